package tables_test

import (
	"testing"

	"txxt/tables"
	"txxt/tables/tabletest"
)

// The in-memory tables pass the suite every backend passes.
func TestMemory(t *testing.T) {
	tabletest.Run(t, tabletest.Backend{
		New: func(*testing.T) tables.Tables { return tables.NewMemory() },
		// A restart in memory keeps what the process holds: the same tables.
		Reopen: func(_ *testing.T, tb tables.Tables) tables.Tables { return tb },
		Second: func(_ *testing.T, tb tables.Tables) tables.Tables { return tb },
	})
}
