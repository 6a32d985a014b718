package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedFileIsCurrent fails when narrow_gen.go was edited by hand or
// the generator changed without `go generate ./persistence/decorate`.
func TestGeneratedFileIsCurrent(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../narrow_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("persistence/decorate/narrow_gen.go is stale: run go generate ./persistence/decorate")
	}
}
