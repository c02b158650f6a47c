package logstore

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the narrow seam through which logstore touches the file system. The
// broker uses OSFS; tests wrap it (see FaultFS) to inject write and fsync
// failures or a full disk, as Pebble's vfs/errorfs does.
type FS interface {
	// OpenFile opens a file as os.OpenFile does.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir fsyncs a directory, so that a create, rename or remove in it
	// survives a crash.
	SyncDir(name string) error
}

// File is an open file. *os.File satisfies it.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Reader
	io.Closer
	Truncate(size int64) error
	Sync() error
	Stat() (fs.FileInfo, error)
	// Fd is the file descriptor, used for mmap of index files and, later,
	// for sendfile on the fetch path.
	Fd() uintptr
	Name() string
}

// OSFS is the real file system.
type OSFS struct{}

func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a typed-nil *os.File must not become a non-nil File
	}
	return f, nil
}
func (OSFS) Remove(name string) error                     { return os.Remove(name) }
func (OSFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (OSFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (OSFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (OSFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// writeFileAtomic writes data to path+".tmp", fsyncs it, renames it over path
// and fsyncs the directory: a crash leaves the old content or the new, never
// a torn file. The temporary file is removed if a step before the rename
// fails. renamed reports whether the new content is under its final name,
// which is true even when only the directory fsync failed (then only the
// rename's durability is in doubt). Errors match ErrStorage.
func writeFileAtomic(fsys FS, path string, data []byte) (renamed bool, err error) {
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return false, storageErr("create "+tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err != nil {
		_ = fsys.Remove(tmp) // best effort; leftovers are removed at the next load
		return false, storageErr("write "+path, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return true, storageErr("fsync directory of "+path, err)
	}
	return true, nil
}
