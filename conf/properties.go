package conf

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file reads and writes the Java .properties format that Kafka's
// server.properties and meta.properties use, following the rules of
// java.util.Properties.load/store:
//
//   - A natural line ends at \n, \r or \r\n. A logical line is a natural line
//     plus, while it ends in an odd number of backslashes, the next natural line
//     with its leading white space removed (the backslash and the line break
//     disappear).
//   - Leading white space (space, \t, \f) of a logical line is skipped; blank
//     lines are ignored; a logical line whose first other character is # or !
//     is a comment. A comment never continues onto the next line, while a
//     continuation line starting with # is not a comment.
//   - The key runs up to the first unescaped '=', ':' or white space. White
//     space around the separator is skipped, and when the key ended at white
//     space, one '=' or ':' after it is still taken as the separator.
//   - In keys and values, \t \n \r \f stand for themselves, \uXXXX is a UTF-16
//     code unit (surrogate pairs combine), and a backslash before any other
//     character keeps that character and drops the backslash ("\=" is "=",
//     "\\" is "\"). A lone backslash at the very end of the input is dropped.
//   - The last occurrence of a key wins.
//
// One deliberate difference: Java's load(InputStream) reads bytes as ISO-8859-1,
// so UTF-8 "é" in a file Kafka reads comes out as "Ã©". We read UTF-8, which is
// what people mean when they type non-ASCII text into a file today. Bytes that
// are not valid UTF-8 become U+FFFD.

// ParseProperties parses data in Java .properties syntax into a map of keys to
// values. It fails only on a malformed \uXXXX escape, naming the line.
func ParseProperties(data []byte) (map[string]string, error) {
	props, err := parseProperties(data)
	if err != nil {
		return nil, fmt.Errorf("conf: properties: %w", err)
	}
	return props, nil
}

// parseProperties is ParseProperties with errors that Load prefixes with the
// file name.
func parseProperties(data []byte) (map[string]string, error) {
	r := propReader{src: toRunes(data), line: 1}
	props := make(map[string]string)
	for {
		logical, line, ok := r.next()
		if !ok {
			return props, nil
		}
		keyRaw, valueRaw := splitKeyValue(logical)
		key, err := unescapeProperty(keyRaw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		value, err := unescapeProperty(valueRaw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		props[key] = value
	}
}

// toRunes decodes UTF-8, turning every invalid byte into U+FFFD.
func toRunes(data []byte) []rune {
	out := make([]rune, 0, len(data))
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		out = append(out, r)
		data = data[n:]
	}
	return out
}

func isPropSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\f' }

// propReader cuts the input into logical lines. It keeps the escapes in the
// lines it returns (splitKeyValue needs them to find the separator) but has
// already removed line continuations.
type propReader struct {
	src  []rune
	pos  int
	line int // natural line number at pos, for error messages
}

// next returns the next logical line that is neither blank nor a comment, and
// the number of the natural line it starts on.
func (r *propReader) next() (logical []rune, startLine int, ok bool) {
	for r.pos < len(r.src) {
		// Skip leading white space and blank lines.
		c := r.src[r.pos]
		if isPropSpace(c) {
			r.pos++
			continue
		}
		if c == '\r' || c == '\n' {
			r.newline()
			continue
		}
		if c == '#' || c == '!' {
			for r.pos < len(r.src) && r.src[r.pos] != '\r' && r.src[r.pos] != '\n' {
				r.pos++
			}
			continue
		}
		return r.readLogical()
	}
	return nil, 0, false
}

// newline consumes one line break at pos (\r\n counts as one).
func (r *propReader) newline() {
	if r.src[r.pos] == '\r' && r.pos+1 < len(r.src) && r.src[r.pos+1] == '\n' {
		r.pos++
	}
	r.pos++
	r.line++
}

// readLogical reads from pos, which holds the first character of a logical
// line, to the end of that logical line.
func (r *propReader) readLogical() ([]rune, int, bool) {
	start := r.line
	var out []rune
	backslash := false // the character before is an unescaped backslash
	for r.pos < len(r.src) {
		c := r.src[r.pos]
		if c != '\r' && c != '\n' {
			out = append(out, c)
			backslash = c == '\\' && !backslash
			r.pos++
			continue
		}
		r.newline()
		if !backslash {
			return out, start, true
		}
		// A continuation: drop the backslash, the line break and the
		// next line's leading white space. An empty next line ends the
		// logical line, as in Java.
		out = out[:len(out)-1]
		backslash = false
		for r.pos < len(r.src) && isPropSpace(r.src[r.pos]) {
			r.pos++
		}
	}
	if backslash {
		out = out[:len(out)-1]
	}
	return out, start, true
}

// splitKeyValue splits a logical line (escapes still in place) into its key
// and value parts.
func splitKeyValue(line []rune) (key, value []rune) {
	keyEnd, valueStart := len(line), len(line)
	hasSeparator, backslash := false, false
	for i, c := range line {
		if !backslash && (c == '=' || c == ':') {
			keyEnd, valueStart, hasSeparator = i, i+1, true
			break
		}
		if !backslash && isPropSpace(c) {
			keyEnd, valueStart = i, i+1
			break
		}
		backslash = c == '\\' && !backslash
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if !isPropSpace(c) {
			if hasSeparator || (c != '=' && c != ':') {
				break
			}
			hasSeparator = true
		}
		valueStart++
	}
	return line[:keyEnd], line[valueStart:]
}

// unescapeProperty resolves the escapes of one key or value.
func unescapeProperty(s []rune) (string, error) {
	// Collect UTF-16 code units so that \u escapes of surrogate pairs
	// combine into one character, as they do in a Java string.
	units := make([]uint16, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			units = utf16.AppendRune(units, c)
			continue
		}
		i++
		if i == len(s) {
			break // a dangling backslash, dropped
		}
		switch c = s[i]; c {
		case 't':
			units = append(units, '\t')
		case 'n':
			units = append(units, '\n')
		case 'r':
			units = append(units, '\r')
		case 'f':
			units = append(units, '\f')
		case 'u':
			if i+4 >= len(s) {
				return "", fmt.Errorf("malformed \\uxxxx escape %q", string(s[i-1:]))
			}
			var u uint16
			for _, h := range s[i+1 : i+5] {
				d, ok := hexDigit(h)
				if !ok {
					return "", fmt.Errorf("malformed \\uxxxx escape %q", string(s[i-1:i+5]))
				}
				u = u<<4 | d
			}
			units = append(units, u)
			i += 4
		default:
			units = utf16.AppendRune(units, c)
		}
	}
	return string(utf16.Decode(units)), nil
}

func hexDigit(r rune) (uint16, bool) {
	switch {
	case r >= '0' && r <= '9':
		return uint16(r - '0'), true
	case r >= 'a' && r <= 'f':
		return uint16(r-'a') + 10, true
	case r >= 'A' && r <= 'F':
		return uint16(r-'A') + 10, true
	}
	return 0, false
}

// FormatProperties writes props in .properties syntax, one "key=value" line
// per key in sorted order, so that ParseProperties gives back the same map.
// Like Java's Properties.store it escapes the separators, '#', '!', the
// backslash, control characters and everything outside printable ASCII
// (as \uXXXX), so the output is plain ASCII. Strings that are not valid UTF-8
// are written with U+FFFD in place of the bad bytes.
func FormatProperties(props map[string]string) []byte {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		escapeProperty(&b, k, true)
		b.WriteByte('=')
		escapeProperty(&b, props[k], false)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// escapeProperty writes s escaped. In a key every space is escaped, since a
// space would end the key; in a value only a leading one, which would
// otherwise be skipped.
func escapeProperty(b *strings.Builder, s string, isKey bool) {
	const hex = "0123456789ABCDEF"
	for i, c := range s {
		switch {
		case c == ' ':
			if isKey || i == 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(' ')
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '=' || c == ':' || c == '#' || c == '!' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20 || c > 0x7e:
			for _, u := range utf16.AppendRune(nil, c) {
				b.WriteString(`\u`)
				b.WriteByte(hex[u>>12&0xf])
				b.WriteByte(hex[u>>8&0xf])
				b.WriteByte(hex[u>>4&0xf])
				b.WriteByte(hex[u&0xf])
			}
		default:
			b.WriteRune(c)
		}
	}
}
