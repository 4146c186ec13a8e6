package server

import (
	"fmt"
	"testing"
)

// A record read again with the same bytes is not decoded again; one whose
// bytes changed is, and the memo never grows past memoSize.
func TestRecordMemoDecodesOnlyNewBytes(t *testing.T) {
	var m recordMemo[Member]
	first, err := m.decode("alpha/u", []byte(`{"name":"ann","role":0}`))
	if err != nil || first.Name != "ann" || first.Role != RoleMember {
		t.Fatalf("first decoding: %+v, %v", first, err)
	}
	changed, err := m.decode("alpha/u", []byte(`{"name":"ann","role":1}`))
	if err != nil || changed.Role != RoleAdmin {
		t.Fatalf("after a role change: %+v, %v; want the new role", changed, err)
	}
	if _, err := m.decode("alpha/u", []byte(`{"name":`)); err == nil {
		t.Fatal("a record that does not decode was taken")
	}
	if again, err := m.decode("alpha/u", []byte(`{"name":"ann","role":1}`)); err != nil || again != changed {
		t.Fatalf("the same bytes again: %+v, %v; want %+v", again, err, changed)
	}
	for i := range 3 * memoSize {
		if _, err := m.decode(fmt.Sprint("k", i), []byte(`{"name":"x"}`)); err != nil {
			t.Fatal(err)
		}
		if n := len(m.m); n > memoSize {
			t.Fatalf("%d records remembered, more than %d", n, memoSize)
		}
	}
}
