// Package migrations holds patientlink's one schema history, River's tables
// included, as golang-migrate files embedded into the binary.
package migrations

import "embed"

// FS holds every *.up.sql and *.down.sql file of this folder.
//
//go:embed *.sql
var FS embed.FS
