package api

import "reflect"

// Hooks for openapi_test.go (package api_test), which holds openapi.yaml to
// the unexported names it documents.
var (
	ErrorBodyType = reflect.TypeOf(errorBody{})
	ActionFilters = actionFilters
	AuditFilters  = auditFilters
)
