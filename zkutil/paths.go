package zkutil

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Names that end up as znode names (topics, groups, config entities) are
// checked against ZooKeeper's path rules, so that a name can never reach
// another znode than its own ("a/../../controller") or be refused by
// ZooKeeper half-way through a multi-step write. Which names Kafka accepts
// (Topic.validate's 249 characters of [a-zA-Z0-9._-]) is the caller's
// policy, not zkutil's.

// checkName checks one znode name: not empty, not "." or "..", no '/', and
// no character ZooKeeper refuses (PathUtils.validatePath).
func checkName(kind, name string) error {
	switch name {
	case "":
		return fmt.Errorf("%w: empty %s", ErrInvalidName, kind)
	case ".", "..":
		return fmt.Errorf("%w: %s %q", ErrInvalidName, kind, name)
	}
	if strings.ContainsRune(name, '/') {
		return fmt.Errorf("%w: %s %q contains '/'", ErrInvalidName, kind, name)
	}
	for _, c := range name {
		if invalidPathRune(c) {
			return fmt.Errorf("%w: %s %q contains %U", ErrInvalidName, kind, name, c)
		}
	}
	return nil
}

// checkPath checks an absolute znode path: "/" and names joined by '/'.
func checkPath(p string) error {
	if p == "/" {
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: path %q is not absolute", ErrInvalidName, p)
	}
	for _, name := range strings.Split(p[1:], "/") {
		if err := checkName("path segment", name); err != nil {
			return fmt.Errorf("path %q: %w", p, err)
		}
	}
	return nil
}

// invalidPathRune reports the characters ZooKeeper's PathUtils refuses:
// NUL, other control characters, and some Unicode ranges.
func invalidPathRune(c rune) bool {
	return c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)
}

// joinPath appends a child's name to a parent path.
func joinPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// parentOf is the parent of an absolute path ("/" for a top-level znode).
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string {
	return tp.Topic + "-" + strconv.Itoa(int(tp.Partition))
}

// parseID reads a znode name that is a decimal int32, such as a broker id
// or a partition number, as Kafka's toInt does.
func parseID(name string) (int32, bool) {
	n, err := strconv.ParseInt(name, 10, 32)
	return int32(n), err == nil
}
