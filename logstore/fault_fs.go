package logstore

import (
	"io/fs"
	"sync"
)

// FaultOp names a file-system operation that FaultFS can fail.
type FaultOp int

const (
	FaultWrite    FaultOp = iota // File.Write and File.WriteAt
	FaultSync                    // File.Sync and FS.SyncDir
	FaultTruncate                // File.Truncate
	FaultOpen                    // FS.OpenFile
	FaultRename                  // FS.Rename
	FaultRemove                  // FS.Remove and FS.RemoveAll
)

// FaultFS wraps an FS and fails chosen operations, for tests of the error
// paths (a full disk, a failing fsync). Inject decides, per operation and
// file name, whether to fail and with what error; a nil result lets the
// operation through. Safe for concurrent use.
type FaultFS struct {
	FS FS

	mu     sync.Mutex // guards inject
	inject func(op FaultOp, name string) error
}

// NewFaultFS wraps inner with no faults armed.
func NewFaultFS(inner FS) *FaultFS { return &FaultFS{FS: inner} }

// SetInject arms (or, with nil, disarms) the fault function.
func (f *FaultFS) SetInject(fn func(op FaultOp, name string) error) {
	f.mu.Lock()
	f.inject = fn
	f.mu.Unlock()
}

func (f *FaultFS) fault(op FaultOp, name string) error {
	f.mu.Lock()
	fn := f.inject
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(op, name)
}

func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := f.fault(FaultOpen, name); err != nil {
		return nil, err
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *FaultFS) Remove(name string) error {
	if err := f.fault(FaultRemove, name); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

func (f *FaultFS) RemoveAll(name string) error {
	if err := f.fault(FaultRemove, name); err != nil {
		return err
	}
	return f.FS.RemoveAll(name)
}

func (f *FaultFS) Rename(oldpath, newpath string) error {
	if err := f.fault(FaultRename, oldpath); err != nil {
		return err
	}
	return f.FS.Rename(oldpath, newpath)
}

func (f *FaultFS) MkdirAll(path string, perm fs.FileMode) error { return f.FS.MkdirAll(path, perm) }
func (f *FaultFS) ReadDir(name string) ([]fs.DirEntry, error)   { return f.FS.ReadDir(name) }
func (f *FaultFS) Stat(name string) (fs.FileInfo, error)        { return f.FS.Stat(name) }

func (f *FaultFS) SyncDir(name string) error {
	if err := f.fault(FaultSync, name); err != nil {
		return err
	}
	return f.FS.SyncDir(name)
}

type faultFile struct {
	File
	fs *FaultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.fault(FaultWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.fault(FaultWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.fault(FaultSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.fault(FaultTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}
