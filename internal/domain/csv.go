package domain

import "strings"

// CSVCell defuses a cell a spreadsheet would run as a formula: one that
// starts with = + - @ or a tab or carriage return gets a leading
// apostrophe. Alert ids and titles are an attacker's to choose, and every
// export (incidents, actions, audit, alert assignments) passes its cells
// through here.
func CSVCell(c string) string {
	if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return "'" + c
	}
	return c
}
