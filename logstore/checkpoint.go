package logstore

// Checkpoint files are small text files, in Kafka's format, that record one
// number per partition or per leader epoch so that a restart need not
// recompute it:
//
//	0                    version, always 0
//	2                    number of entries that follow
//	orders 0 1234        one entry per line
//	orders.eu 3 56
//
// The per-directory files recovery-point-offset-checkpoint,
// replication-offset-checkpoint, log-start-offset-checkpoint and
// cleaner-offset-checkpoint hold "<topic> <partition> <offset>" lines (the
// offset file format); each partition's leader-epoch-checkpoint holds
// "<leader epoch> <start offset>" lines. Fields are separated by white
// space, lines by '\n' (a '\r' before it is accepted, as Java's readLine
// does). Both formats share one reader and one writer below, generic over
// the codec of a line.
//
// A checkpoint is replaced atomically: it is written to <path>.tmp, fsynced,
// renamed over <path>, and the directory is fsynced. A crash leaves either
// the old file or the new one, never a mix, and a stale .tmp file is simply
// overwritten by the next write.

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// checkpointVersion is the only version Kafka has written for either format.
const checkpointVersion = 0

// checkpointCodec turns one entry of a checkpoint into a line and back.
type checkpointCodec[E any] struct {
	fields int                               // number of fields in a line
	parse  func(fields []string) (E, error)  // fields has exactly fields elements
	format func(line []byte, entry E) []byte // appends the line, without '\n'
	check  func(entry E) error               // refuses an entry that could not be read back; may be nil
}

// readCheckpoint reads the entries of the checkpoint at path, in file order.
// A missing file, or an empty one (as Kafka treats it), has no entries. A
// malformed file gives an error matching ErrCorrupt that names the file and
// the line; a failed read gives one matching ErrStorage.
func readCheckpoint[E any](fsys FS, path string, codec checkpointCodec[E]) ([]E, error) {
	data, err := readWholeFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, storageErr("read checkpoint "+path, err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the final newline ends a line; it does not start one
	}
	malformed := func(lineIndex int, format string, args ...any) error {
		return Corruptf("checkpoint %s line %d: %s", path, lineIndex+1, fmt.Sprintf(format, args...))
	}
	version, err := parseCheckpointNumber(lines[0], 32)
	if err != nil {
		return nil, malformed(0, "version %q is not a number", lines[0])
	}
	if version != checkpointVersion {
		return nil, malformed(0, "unsupported version %d", version)
	}
	if len(lines) < 2 {
		return nil, malformed(1, "missing the entry count")
	}
	count, err := parseCheckpointNumber(lines[1], 32)
	if err != nil || count < 0 {
		return nil, malformed(1, "entry count %q is not a non-negative number", lines[1])
	}
	entryLines := lines[2:]
	if int64(len(entryLines)) != count {
		return nil, malformed(len(lines)-1, "the header announces %d entries, the file has %d", count, len(entryLines))
	}
	entries := make([]E, 0, len(entryLines))
	for i, line := range entryLines {
		fields := strings.Fields(line)
		if len(fields) != codec.fields {
			return nil, malformed(i+2, "%d fields, want %d", len(fields), codec.fields)
		}
		entry, err := codec.parse(fields)
		if err != nil {
			return nil, malformed(i+2, "%v", err)
		}
		entries = append(entries, entry)
	}
	return entries, nil
}

func readWholeFile(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return data, err
}

// parseCheckpointNumber parses a line or field holding one decimal integer
// of the given bit size, surrounding white space allowed.
func parseCheckpointNumber(s string, bitSize int) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s), 10, bitSize)
}

// writeCheckpoint atomically replaces the checkpoint at path with entries,
// in the order given. Every failure matches ErrStorage except an entry the
// codec refuses, which is the caller's bug and writes nothing.
func writeCheckpoint[E any](fsys FS, path string, entries []E, codec checkpointCodec[E]) error {
	buf := make([]byte, 0, 16+32*len(entries))
	buf = strconv.AppendInt(buf, checkpointVersion, 10)
	buf = append(buf, '\n')
	buf = strconv.AppendInt(buf, int64(len(entries)), 10)
	buf = append(buf, '\n')
	for _, entry := range entries {
		if codec.check != nil {
			if err := codec.check(entry); err != nil {
				return fmt.Errorf("logstore: write checkpoint %s: %w", path, err)
			}
		}
		buf = codec.format(buf, entry)
		buf = append(buf, '\n')
	}
	_, err := writeFileAtomic(fsys, path, buf)
	return err
}

// offsetCheckpointEntry is one line of an offset checkpoint file.
type offsetCheckpointEntry struct {
	partition TopicPartition
	offset    int64
}

var offsetCheckpointCodec = checkpointCodec[offsetCheckpointEntry]{
	fields: 3,
	parse: func(fields []string) (offsetCheckpointEntry, error) {
		partition, err := strconv.ParseInt(fields[1], 10, 32)
		if err != nil || partition < 0 {
			return offsetCheckpointEntry{}, fmt.Errorf("partition %q is not a non-negative 32-bit number", fields[1])
		}
		offset, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return offsetCheckpointEntry{}, fmt.Errorf("offset %q is not a 64-bit number", fields[2])
		}
		return offsetCheckpointEntry{TopicPartition{Topic: fields[0], Partition: int32(partition)}, offset}, nil
	},
	format: func(line []byte, e offsetCheckpointEntry) []byte {
		line = append(line, e.partition.Topic...)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(e.partition.Partition), 10)
		line = append(line, ' ')
		return strconv.AppendInt(line, e.offset, 10)
	},
	check: func(e offsetCheckpointEntry) error {
		// A topic with white space in it would split into more fields.
		if e.partition.Topic == "" || strings.IndexFunc(e.partition.Topic, unicode.IsSpace) >= 0 {
			return fmt.Errorf("topic %q cannot be written to a checkpoint", e.partition.Topic)
		}
		if e.partition.Partition < 0 {
			return fmt.Errorf("partition %s has a negative number", e.partition)
		}
		return nil
	},
}

// ReadOffsetCheckpoint reads an offset checkpoint file
// (recovery-point-offset-checkpoint, replication-offset-checkpoint,
// log-start-offset-checkpoint, cleaner-offset-checkpoint). A missing or
// empty file gives an empty map and no error. A malformed file (another
// version, a count that does not match the lines, a bad line, a partition
// listed twice) gives an error matching ErrCorrupt naming the file and the
// line; a failed read gives one matching ErrStorage.
func ReadOffsetCheckpoint(fsys FS, path string) (map[TopicPartition]int64, error) {
	entries, err := readCheckpoint(fsys, path, offsetCheckpointCodec)
	if err != nil {
		return nil, err
	}
	offsets := make(map[TopicPartition]int64, len(entries))
	for i, e := range entries {
		if _, ok := offsets[e.partition]; ok {
			// Entries start on the third line.
			return nil, Corruptf("checkpoint %s line %d: partition %s listed twice", path, i+3, e.partition)
		}
		offsets[e.partition] = e.offset
	}
	return offsets, nil
}

// WriteOffsetCheckpoint atomically replaces an offset checkpoint file with
// offsets, one line per partition sorted by topic and partition. A failure
// matches ErrStorage and leaves the old file in place, except a failed fsync
// of the directory, which comes after the new file has replaced the old one.
// A topic that is empty or holds white space, or a negative partition, is
// refused before anything is written.
func WriteOffsetCheckpoint(fsys FS, path string, offsets map[TopicPartition]int64) error {
	entries := make([]offsetCheckpointEntry, 0, len(offsets))
	for partition, offset := range offsets {
		entries = append(entries, offsetCheckpointEntry{partition, offset})
	}
	slices.SortFunc(entries, func(a, b offsetCheckpointEntry) int {
		if c := strings.Compare(a.partition.Topic, b.partition.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.partition.Partition, b.partition.Partition)
	})
	return writeCheckpoint(fsys, path, entries, offsetCheckpointCodec)
}

// EpochEntry is one line of a leader-epoch-checkpoint: the first offset the
// leader of Epoch wrote (KIP-101).
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

var leaderEpochCheckpointCodec = checkpointCodec[EpochEntry]{
	fields: 2,
	parse: func(fields []string) (EpochEntry, error) {
		epoch, err := strconv.ParseInt(fields[0], 10, 32)
		if err != nil {
			return EpochEntry{}, fmt.Errorf("leader epoch %q is not a 32-bit number", fields[0])
		}
		offset, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return EpochEntry{}, fmt.Errorf("start offset %q is not a 64-bit number", fields[1])
		}
		return EpochEntry{Epoch: int32(epoch), StartOffset: offset}, nil
	},
	format: func(line []byte, e EpochEntry) []byte {
		line = strconv.AppendInt(line, int64(e.Epoch), 10)
		line = append(line, ' ')
		return strconv.AppendInt(line, e.StartOffset, 10)
	},
}

// ReadLeaderEpochCheckpoint reads a partition's leader-epoch-checkpoint, in
// file order. It checks the format only, as ReadOffsetCheckpoint does; that
// epochs and start offsets increase is for the leader epoch cache to check,
// as Kafka's LeaderEpochFileCache does when it loads the entries.
func ReadLeaderEpochCheckpoint(fsys FS, path string) ([]EpochEntry, error) {
	return readCheckpoint(fsys, path, leaderEpochCheckpointCodec)
}

// WriteLeaderEpochCheckpoint atomically replaces a leader-epoch-checkpoint
// with entries, in the order given, with the same guarantees as
// WriteOffsetCheckpoint.
func WriteLeaderEpochCheckpoint(fsys FS, path string, entries []EpochEntry) error {
	return writeCheckpoint(fsys, path, entries, leaderEpochCheckpointCodec)
}
