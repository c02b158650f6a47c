package conf

import (
	"maps"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty input", "", map[string]string{}},
		{"equals separator", "a=b", map[string]string{"a": "b"}},
		{"colon separator", "a:b", map[string]string{"a": "b"}},
		{"space separator", "a b", map[string]string{"a": "b"}},
		{"tab separator", "a\tb", map[string]string{"a": "b"}},
		{"form feed separator", "a\fb", map[string]string{"a": "b"}},
		{"white space around separator", "a \t = \t b", map[string]string{"a": "b"}},
		{"white space then colon", "a   :b", map[string]string{"a": "b"}},
		{"only first separator counts", "a==b", map[string]string{"a": "=b"}},
		{"space separator then a second separator in value", "a = = b", map[string]string{"a": "= b"}},
		{"colon inside value", "listeners=PLAINTEXT://:9092", map[string]string{"listeners": "PLAINTEXT://:9092"}},
		{"trailing white space kept in value", "a=b  ", map[string]string{"a": "b  "}},
		{"key without value", "a", map[string]string{"a": ""}},
		{"key with separator and no value", "a=", map[string]string{"a": ""}},
		{"empty key", "=b", map[string]string{"": "b"}},
		{"leading white space skipped", "  \t\fa=b", map[string]string{"a": "b"}},
		{"blank lines ignored", "\n\n  \n\t\na=b\n\n", map[string]string{"a": "b"}},
		{"hash comment", "# a=b\nc=d", map[string]string{"c": "d"}},
		{"bang comment", "! a=b\nc=d", map[string]string{"c": "d"}},
		{"indented comment", "   # a=b\nc=d", map[string]string{"c": "d"}},
		{"hash inside value is not a comment", "a=b#c", map[string]string{"a": "b#c"}},
		{"comment does not continue", "# a \\\nc=d", map[string]string{"c": "d"}},
		{"CRLF line ends", "a=b\r\nc=d\r\n", map[string]string{"a": "b", "c": "d"}},
		{"CR line ends", "a=b\rc=d\r", map[string]string{"a": "b", "c": "d"}},
		{"last occurrence wins", "a=1\na=2", map[string]string{"a": "2"}},
		{"continuation", "a=b\\\nc", map[string]string{"a": "bc"}},
		{"continuation skips leading white space", "a=b, \\\n    c", map[string]string{"a": "b, c"}},
		{"continuation over CRLF", "a=b\\\r\n  c", map[string]string{"a": "bc"}},
		{"continuation over CR", "a=b\\\r  c", map[string]string{"a": "bc"}},
		{"continuation line starting with hash is not a comment", "a=b\\\n#c", map[string]string{"a": "b#c"}},
		{"continuation into empty line ends the value", "a=b\\\n\nc=d", map[string]string{"a": "b", "c": "d"}},
		{"continuation in key", "ke\\\n  y=v", map[string]string{"key": "v"}},
		{"several continuations", "a=1,\\\n 2,\\\n 3", map[string]string{"a": "1,2,3"}},
		{"even backslashes do not continue", "a=b\\\\\nc=d", map[string]string{"a": "b\\", "c": "d"}},
		{"odd backslashes continue", "a=b\\\\\\\nc", map[string]string{"a": "b\\c"}},
		{"trailing backslash at end of input dropped", "a=b\\", map[string]string{"a": "b"}},
		{"escape tab", `a=x\ty`, map[string]string{"a": "x\ty"}},
		{"escape newline", `a=x\ny`, map[string]string{"a": "x\ny"}},
		{"escape carriage return", `a=x\ry`, map[string]string{"a": "x\ry"}},
		{"escape form feed", `a=x\fy`, map[string]string{"a": "x\fy"}},
		{"escape unicode", `a=caf\u00e9`, map[string]string{"a": "café"}},
		{"escape unicode upper case hex", `a=\u00E9`, map[string]string{"a": "é"}},
		{"escape surrogate pair", `a=\uD83D\uDE00`, map[string]string{"a": "😀"}},
		{"lone surrogate becomes replacement", `a=\uD83Dx`, map[string]string{"a": "\uFFFDx"}},
		{"escaped backslash", `a=c:\\dir`, map[string]string{"a": `c:\dir`}},
		{"other escapes keep the character", `a=\b\q\"`, map[string]string{"a": `bq"`}},
		{"escaped equals in key", `a\=b=c`, map[string]string{"a=b": "c"}},
		{"escaped colon in key", `a\:b:c`, map[string]string{"a:b": "c"}},
		{"escaped space in key", `a\ b c`, map[string]string{"a b": "c"}},
		{"escaped hash starts a key", `\#a=b`, map[string]string{"#a": "b"}},
		{"escaped leading space in value", `a=\  b`, map[string]string{"a": "  b"}},
		{"escapes in value separators", `a=b\=c\:d`, map[string]string{"a": "b=c:d"}},
		{"raw UTF-8", "a=é", map[string]string{"a": "é"}},
		{"invalid UTF-8 becomes replacement", "a=\xff", map[string]string{"a": "\uFFFD"}},
		{"a real server.properties", `
# The id of the broker.
broker.id=0
listeners=PLAINTEXT://:9092
log.dirs=/tmp/kafka-logs
zookeeper.connect=localhost:2181
`, map[string]string{
			"broker.id": "0", "listeners": "PLAINTEXT://:9092",
			"log.dirs": "/tmp/kafka-logs", "zookeeper.connect": "localhost:2181",
		}},
		{"a meta.properties written by Java", "#\n#Tue Nov 22 02:39:00 UTC 2022\ncluster.id=q1Sh-9_ISia_zwGINzRvyQ\nversion=0\nbroker.id=1\n",
			map[string]string{"cluster.id": "q1Sh-9_ISia_zwGINzRvyQ", "version": "0", "broker.id": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProperties([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseProperties(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseProperties(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"short unicode escape", `a=\u12`, `conf: properties: line 1: malformed \uxxxx escape "\\u12"`},
		{"non-hex unicode escape", "x=1\n\na=\\u12g4", `conf: properties: line 3: malformed \uxxxx escape "\\u12g4"`},
		{"bad escape in key", `\uzzzz=1`, `conf: properties: line 1: malformed \uxxxx escape "\\uzzzz"`},
		{"line number counts continuations", "a=1\\\n2\nb=\\u", `conf: properties: line 3: malformed \uxxxx escape "\\u"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProperties([]byte(tt.in))
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseProperties(%q) error = %v, want %s", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestFormatProperties(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{"empty", map[string]string{}, ""},
		{"sorted plain", map[string]string{"b": "2", "a": "1"}, "a=1\nb=2\n"},
		{"separators escaped", map[string]string{"a=b:c": "x=y:z"}, `a\=b\:c=x\=y\:z` + "\n"},
		{"comment characters escaped", map[string]string{"#a": "!b"}, `\#a=\!b` + "\n"},
		{"spaces in key, leading space in value", map[string]string{"a b": " c d"}, `a\ b=\ c d` + "\n"},
		{"control characters", map[string]string{"k": "\t\n\r\f\x01"}, `k=\t\n\r\f\u0001` + "\n"},
		{"backslash", map[string]string{"k": `c:\x`}, `k=c\:\\x` + "\n"},
		{"non-ASCII as UTF-16 escapes", map[string]string{"k": "é😀"}, `k=\u00E9\uD83D\uDE00` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(FormatProperties(tt.in))
			if got != tt.want {
				t.Errorf("FormatProperties(%q) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := ParseProperties([]byte(got))
			if err != nil || !maps.Equal(back, tt.in) {
				t.Errorf("re-parsing %q = %q, %v; want %q", got, back, err, tt.in)
			}
		})
	}
}

// FuzzParseProperties: ParseProperties never panics; when it accepts the
// input, writing the map back out with FormatProperties and parsing that gives
// the same map, and the written form is stable (formatting it again gives the
// same bytes).
func FuzzParseProperties(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("a=b\n"))
	f.Add([]byte("broker.id=0\nlisteners=PLAINTEXT://:9092\nlog.dirs=/a,\\\n  /b\n"))
	f.Add([]byte("# comment \\\n! other\n  key  :  value  \r\n"))
	f.Add([]byte(`k\ ey=\u00e9\uD83D\uDE00\t\n\r\f\\\=\:`))
	f.Add([]byte("a=\\u12"))
	f.Add([]byte("a=b\\"))
	f.Add([]byte("\\\n\\\r\n=\xff\xfe"))
	f.Add([]byte(strings.Repeat("\\", 7) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := ParseProperties(data)
		if err != nil {
			return
		}
		written := FormatProperties(first)
		second, err := ParseProperties(written)
		if err != nil {
			t.Fatalf("re-parsing %q: %v", written, err)
		}
		if !maps.Equal(first, second) {
			t.Fatalf("round trip changed the map:\n first  %q\n second %q\n via %q", first, second, written)
		}
		if again := FormatProperties(second); string(again) != string(written) {
			t.Fatalf("formatting is not stable: %q then %q", written, again)
		}
	})
}
