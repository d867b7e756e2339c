package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSnapshotRestoreKeepsContentAsOfSnapshot(t *testing.T) {
	s, err := newStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateVolume("pvc-a", 1<<20, "", ""); err != nil {
		t.Fatal(err)
	}
	vol := s.volumeDir("pvc-a")
	if err := os.MkdirAll(filepath.Join(vol, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "f"), []byte("before"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f", filepath.Join(vol, "link")); err != nil {
		t.Fatal(err)
	}
	snap, err := s.CreateSnapshot("snap-1", "pvc-a")
	if err != nil {
		t.Fatal(err)
	}
	if snap.CopiedBytes != int64(len("before")) || snap.SizeBytes != 1<<20 || snap.SourceVolume != "pvc-a" {
		t.Fatalf("snapshot record %+v", snap)
	}
	// Writes after the snapshot do not reach it.
	if err := os.WriteFile(filepath.Join(vol, "sub", "f"), []byte("after"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateVolume("pvc-b", 1<<20, "snap-1", ""); err != nil {
		t.Fatal(err)
	}
	restored := s.volumeDir("pvc-b")
	got, err := os.ReadFile(filepath.Join(restored, "link"))
	if err != nil || string(got) != "before" {
		t.Fatalf("restored content %q, %v", got, err)
	}
	for _, c := range []struct {
		rel  string
		mode os.FileMode
	}{{"sub", 0o700 | os.ModeDir}, {"sub/f", 0o640}, {".", 0o777 | os.ModeDir}} {
		fi, err := os.Stat(filepath.Join(restored, c.rel))
		if err != nil || fi.Mode() != c.mode {
			t.Errorf("%s: mode %v (%v), want %v", c.rel, fi.Mode(), err, c.mode)
		}
	}
}

func TestCreatesAreIdempotentAndConflictsAreRefused(t *testing.T) {
	s, err := newStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustOK := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.CreateVolume("pvc-a", 10, "", "")
	mustOK(err)
	_, err = s.CreateVolume("pvc-c", 10, "", "")
	mustOK(err)
	_, err = s.CreateSnapshot("snap-1", "pvc-a")
	mustOK(err)
	for _, c := range []struct {
		name string
		call func() error
		want error
	}{
		{"same volume again", func() error { _, err := s.CreateVolume("pvc-a", 10, "", ""); return err }, nil},
		{"same name, other size", func() error { _, err := s.CreateVolume("pvc-a", 20, "", ""); return err }, errConflict},
		{"same snapshot again", func() error { _, err := s.CreateSnapshot("snap-1", "pvc-a"); return err }, nil},
		{"same snapshot name, other source", func() error { _, err := s.CreateSnapshot("snap-1", "pvc-c"); return err }, errConflict},
		{"snapshot of a missing volume", func() error { _, err := s.CreateSnapshot("snap-2", "pvc-x"); return err }, errNotFound},
		{"volume from a missing snapshot", func() error { _, err := s.CreateVolume("pvc-d", 10, "snap-x", ""); return err }, errNotFound},
		{"path in an id", func() error { _, err := s.CreateVolume("../etc", 10, "", ""); return err }, errBadID},
		{"path in a source id", func() error { _, err := s.CreateVolume("pvc-e", 10, "../x", ""); return err }, errBadID},
		{"delete a missing volume", func() error { return s.DeleteVolume("pvc-x") }, nil},
		{"delete a missing snapshot", func() error { return s.DeleteSnapshot("snap-x") }, nil},
	} {
		if err := c.call(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A snapshot outlives its source volume, and deletion removes files and record.
	mustOK(s.DeleteVolume("pvc-a"))
	if _, err := s.CreateVolume("pvc-f", 10, "snap-1", ""); err != nil {
		t.Fatalf("restore after deleting the source: %v", err)
	}
	mustOK(s.DeleteSnapshot("snap-1"))
	if _, err := s.Snapshot("snap-1"); !errors.Is(err, errNotFound) {
		t.Fatalf("deleted snapshot: %v", err)
	}
	if _, err := os.Stat(s.snapshotDir("snap-1")); !os.IsNotExist(err) {
		t.Fatalf("deleted snapshot's files: %v", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/end\04`: `/end\04`, `/t\011x`: "/t\tx"} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
