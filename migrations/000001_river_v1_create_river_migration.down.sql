-- Generated from River's migrations (go test ./migrations -update-river). Do not edit.

DROP TABLE river_migration;
