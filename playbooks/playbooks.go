// Package playbooks embeds the playbooks AIR ships, so that a built worker
// or starter runs them from any folder; a directory given with -playbooks
// replaces them (internal/playbook.Load).
package playbooks

import "embed"

// FS holds the shipped playbooks and their tests.
//
//go:embed *.yaml
var FS embed.FS
