// Package records is the vocabulary the API, the pages and the command line
// exchange with the store: queries and the pages that answer them, the rows
// those pages hold, the changes an analyst asks for (the JSON bodies of
// PATCH requests) and the records the store lists (audit entries, tokens,
// intelligence feeds, notification claims).
//
// It lives apart from internal/store so that internal/api, internal/web and
// internal/cli can speak it without importing the store (ARCHITECTURE.md:
// the store keeps transactional, entity-first primitives, not wire types).
// It holds types, their validation and their limits; it imports no storage
// and decides nothing.
package records
