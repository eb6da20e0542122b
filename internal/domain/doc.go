// Package domain holds AIR's core types — alerts, evidence, entities,
// incidents and actions — with their enums and the rules that need nothing but
// the values themselves. Field names and enum values follow the Microsoft Graph
// security API so that Graph exports read unchanged.
//
// Every other package depends on this one; it depends on none of them.
package domain
