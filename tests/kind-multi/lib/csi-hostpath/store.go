package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// store keeps volumes and snapshots as plain directories on this node, each next to a small JSON
// record that is written last: a directory without its record is an interrupted operation and is
// replaced on the next try, so every create is idempotent and crash-safe.
//
//	<root>/volumes/<id>/       the volume's files (bind-mounted into pods)
//	<root>/volumes/<id>.json   volumeRecord
//	<root>/snapshots/<id>/     a copy of the source volume's files at snapshot time
//	<root>/snapshots/<id>.json snapshotRecord
type store struct {
	root string
	// mu serialises every change: a node sees a handful of operations a minute, and one lock
	// rules out a snapshot racing the deletion of its source.
	mu sync.Mutex
}

// volumeRecord describes a volume; its ID is its directory name.
type volumeRecord struct {
	// CapacityBytes is what the volume was created with (reported, not enforced: all volumes of a
	// node share its file system).
	CapacityBytes int64 `json:"capacityBytes"`
	// SourceSnapshot or SourceVolume name the content the volume was created from, if any.
	SourceSnapshot string `json:"sourceSnapshot,omitempty"`
	SourceVolume   string `json:"sourceVolume,omitempty"`
}

// snapshotRecord describes a snapshot; its ID is its directory name.
type snapshotRecord struct {
	SourceVolume string `json:"sourceVolume"`
	// CreatedUnixNano is when the copy started: the snapshot holds the volume as of then or later.
	CreatedUnixNano int64 `json:"createdUnixNano"`
	// SizeBytes is the source volume's capacity: the smallest volume the snapshot restores into
	// (Kubernetes shows it as restoreSize and refuses smaller claims).
	SizeBytes int64 `json:"sizeBytes"`
	// CopiedBytes is what the files of the snapshot hold.
	CopiedBytes int64 `json:"copiedBytes"`
}

var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("exists with different parameters")
	errBadID    = errors.New("invalid id")
	validID     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// checkID keeps IDs to single path components: they come from the API server and become directory names.
func checkID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("%w %q: want 1-128 characters of [A-Za-z0-9._-], not starting with . _ or -", errBadID, id)
	}
	return nil
}

func newStore(root string) (*store, error) {
	for _, d := range []string{"volumes", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	return &store{root: root}, nil
}

func (s *store) volumeDir(id string) string   { return filepath.Join(s.root, "volumes", id) }
func (s *store) snapshotDir(id string) string { return filepath.Join(s.root, "snapshots", id) }

// readRecord loads dir+".json" into v; errNotFound when the record is absent.
func readRecord(dir string, v any) error {
	b, err := os.ReadFile(dir + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeRecord writes dir+".json" atomically (temporary file, fsync, rename).
func writeRecord(dir string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := dir + ".json.tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dir+".json")
}

// Volume returns the record of volume id.
func (s *store) Volume(id string) (volumeRecord, error) {
	var r volumeRecord
	if err := checkID(id); err != nil {
		return r, err
	}
	return r, readRecord(s.volumeDir(id), &r)
}

// CreateVolume creates volume id, empty or with the content of a snapshot or another volume (at most
// one of fromSnapshot, fromVolume). Calling it again with the same arguments returns the same volume.
func (s *store) CreateVolume(id string, capacity int64, fromSnapshot, fromVolume string) (volumeRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := volumeRecord{CapacityBytes: capacity, SourceSnapshot: fromSnapshot, SourceVolume: fromVolume}
	if err := checkID(id); err != nil {
		return want, err
	}
	var have volumeRecord
	switch err := readRecord(s.volumeDir(id), &have); {
	case err == nil:
		if have != want {
			return have, fmt.Errorf("volume %s %w", id, errConflict)
		}
		return have, nil
	case !errors.Is(err, errNotFound):
		return want, err
	}
	dir := s.volumeDir(id)
	if err := os.RemoveAll(dir); err != nil { // left over from an interrupted create
		return want, err
	}
	var src string
	switch {
	case fromSnapshot != "":
		if err := s.mustExist(s.snapshotDir(fromSnapshot), &snapshotRecord{}, "snapshot", fromSnapshot); err != nil {
			return want, err
		}
		src = s.snapshotDir(fromSnapshot)
	case fromVolume != "":
		if err := s.mustExist(s.volumeDir(fromVolume), &volumeRecord{}, "volume", fromVolume); err != nil {
			return want, err
		}
		src = s.volumeDir(fromVolume)
	}
	if src != "" {
		if _, err := copyTree(src, dir); err != nil {
			return want, fmt.Errorf("copy %s: %w", src, err)
		}
	} else {
		if err := os.Mkdir(dir, 0o777); err != nil {
			return want, err
		}
		// Any pod user may write to a new volume, as with the default StorageClass's volumes;
		// Chmod because the umask narrowed Mkdir's mode.
		if err := os.Chmod(dir, 0o777); err != nil {
			return want, err
		}
	}
	return want, writeRecord(dir, want)
}

func (s *store) mustExist(dir string, rec any, kind, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := readRecord(dir, rec); err != nil {
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("%s %s %w on this node", kind, id, errNotFound)
		}
		return err
	}
	return nil
}

// DeleteVolume removes volume id and its files; deleting a missing volume succeeds.
func (s *store) DeleteVolume(id string) error { return s.remove(id, s.volumeDir) }

// DeleteSnapshot removes snapshot id; deleting a missing snapshot succeeds.
func (s *store) DeleteSnapshot(id string) error { return s.remove(id, s.snapshotDir) }

func (s *store) remove(id string, dirOf func(string) string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkID(id); err != nil {
		return err
	}
	return removeWithRecord(dirOf(id))
}

// removeWithRecord drops the record first, so a crash in between leaves an unrecorded directory
// (garbage a later create with the same ID replaces), never a record without its files.
func removeWithRecord(dir string) error {
	if err := os.Remove(dir + ".json"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(dir)
}

// CreateSnapshot copies volume source into snapshot id. The copy is file by file while the volume may
// be in use: a consistent snapshot of a running database needs the database's own help (PostgreSQL:
// pg_backup_start/pg_backup_stop and the WAL in between). Calling it again returns the same snapshot.
func (s *store) CreateSnapshot(id, source string) (snapshotRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var have snapshotRecord
	if err := checkID(id); err != nil {
		return have, err
	}
	switch err := readRecord(s.snapshotDir(id), &have); {
	case err == nil:
		if have.SourceVolume != source {
			return have, fmt.Errorf("snapshot %s of volume %s %w", id, have.SourceVolume, errConflict)
		}
		return have, nil
	case !errors.Is(err, errNotFound):
		return have, err
	}
	var vol volumeRecord
	if err := s.mustExist(s.volumeDir(source), &vol, "volume", source); err != nil {
		return have, err
	}
	dir := s.snapshotDir(id)
	if err := os.RemoveAll(dir); err != nil {
		return have, err
	}
	rec := snapshotRecord{SourceVolume: source, CreatedUnixNano: time.Now().UnixNano(), SizeBytes: vol.CapacityBytes}
	copied, err := copyTree(s.volumeDir(source), dir)
	if err != nil {
		return rec, fmt.Errorf("copy volume %s: %w", source, err)
	}
	rec.CopiedBytes = copied
	return rec, writeRecord(dir, rec)
}

// Snapshot returns the record of snapshot id.
func (s *store) Snapshot(id string) (snapshotRecord, error) {
	var r snapshotRecord
	if err := checkID(id); err != nil {
		return r, err
	}
	return r, readRecord(s.snapshotDir(id), &r)
}

// copyTree copies directory src to dst (which must not exist) with modes, owners and modification
// times, regular files, directories and symbolic links (other file types are refused rather than
// silently skipped), and returns the bytes of regular files copied.
func copyTree(src, dst string) (int64, error) {
	var total int64
	var dirs []string // directory mtimes are set last: creating entries changes them
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, rel)
			return nil
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			return copyOwner(info, target, true)
		case mode.IsRegular():
			n, err := copyFile(p, target, info)
			total += n
			return err
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, mode.Type())
		}
	})
	if err != nil {
		return total, err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		info, err := os.Lstat(filepath.Join(src, dirs[i]))
		if err != nil {
			return total, err
		}
		if err := copyMeta(info, filepath.Join(dst, dirs[i])); err != nil {
			return total, err
		}
	}
	return total, nil
}

func copyFile(src, dst string, info fs.FileInfo) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	return n, copyMeta(info, dst)
}

// copyMeta gives dst the owner, permission bits (with setuid/setgid/sticky) and mtime of info.
func copyMeta(info fs.FileInfo, dst string) error {
	if err := copyOwner(info, dst, false); err != nil {
		return err
	}
	mode := info.Mode().Perm()
	if info.Mode()&fs.ModeSetuid != 0 {
		mode |= syscall.S_ISUID
	}
	if info.Mode()&fs.ModeSetgid != 0 {
		mode |= syscall.S_ISGID
	}
	if info.Mode()&fs.ModeSticky != 0 {
		mode |= syscall.S_ISVTX
	}
	if err := syscall.Chmod(dst, uint32(mode)); err != nil {
		return err
	}
	return os.Chtimes(dst, info.ModTime(), info.ModTime())
}

func copyOwner(info fs.FileInfo, dst string, link bool) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if link {
		return os.Lchown(dst, int(st.Uid), int(st.Gid))
	}
	return os.Chown(dst, int(st.Uid), int(st.Gid))
}
