package smart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// decodeSmartctl reads the first JSON value of smartctl output as saved
// by smartctl or by other tools: UTF-8 with or without a byte order
// mark, UTF-16 (with a byte order mark, or without one as Windows
// shells write it), and text after the JSON value (a shell's note, a
// second command's output) is ignored. It returns ErrCorrupt naming the
// line and byte of the first thing that is not JSON, or that the value
// is not an object.
func decodeSmartctl(b []byte) (map[string]any, error) {
	text, err := smartctlText(b)
	if err != nil {
		return nil, fmt.Errorf("smartctl JSON: %v: %w", err, ErrCorrupt)
	}
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, fmt.Errorf("smartctl JSON: the file is empty: %w", ErrCorrupt)
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			line, col := lineCol(text, syn.Offset)
			return nil, fmt.Errorf("smartctl JSON: not JSON at line %d, column %d (byte %d): %s: %w", line, col, syn.Offset, syn.Error(), ErrCorrupt)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("smartctl JSON: the text ends early, at byte %d, before the JSON object is closed (cut-off output?): %w", len(text), ErrCorrupt)
		}
		return nil, fmt.Errorf("smartctl JSON: %v: %w", err, ErrCorrupt)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("smartctl JSON: not a JSON object (smartctl --json prints one object starting with '{'): %w", ErrCorrupt)
	}
	return obj, nil
}

// smartctlText converts b to UTF-8 without a byte order mark.
func smartctlText(b []byte) ([]byte, error) {
	fallback := unicode.UTF8.NewDecoder()
	switch {
	case len(b) >= 2 && b[0] != 0 && b[1] == 0:
		fallback = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()
	case len(b) >= 2 && b[0] == 0 && b[1] != 0:
		fallback = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()
	}
	out, _, err := transform.Bytes(unicode.BOMOverride(fallback), b)
	return out, err
}

// lineCol is the line and column (from 1) of the byte at offset off
// (from 1), as json.SyntaxError counts.
func lineCol(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	before := b[:max(off-1, 0)]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// jsonFields reads a decoded JSON object field by field: a field that is
// absent reads as zero and false; a field present with a value of the
// wrong type or out of range does too, and its path is added to bad.
type jsonFields struct {
	obj    map[string]any
	prefix string    // the path of obj in the document, "" at the top
	bad    *[]string // shared by every jsonFields of one document
}

// path is the document path of a field of j.
func (j *jsonFields) path(p string) string {
	if j.prefix == "" {
		return p
	}
	return j.prefix + "." + p
}

// get returns the value at a dotted path, and whether it is there (JSON
// null counts as absent). An intermediate value that is not an object
// makes the path unreadable.
func (j *jsonFields) get(p string) (any, bool) {
	var cur any = j.obj
	walked := ""
	for part := range strings.SplitSeq(p, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			j.unreadable(walked)
			return nil, false
		}
		if walked != "" {
			walked += "."
		}
		walked += part
		if cur, ok = m[part]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}

func (j *jsonFields) unreadable(p string) {
	full := j.path(p)
	for _, b := range *j.bad {
		if b == full {
			return
		}
	}
	*j.bad = append(*j.bad, full)
}

// has reports whether the path holds a value (of any type).
func (j *jsonFields) has(p string) bool {
	_, ok := j.get(p)
	return ok
}

// sub is the object at a path (empty when absent or not an object).
func (j *jsonFields) sub(p string) *jsonFields {
	s := &jsonFields{prefix: j.path(p), bad: j.bad}
	v, ok := j.get(p)
	if !ok {
		return s
	}
	if s.obj, ok = v.(map[string]any); !ok {
		j.unreadable(p)
	}
	return s
}

// list is the array of objects at a path; elements that are not objects
// are unreadable and left out.
func (j *jsonFields) list(p string) []*jsonFields {
	v, ok := j.get(p)
	if !ok {
		return nil
	}
	a, ok := v.([]any)
	if !ok {
		j.unreadable(p)
		return nil
	}
	var out []*jsonFields
	for i, e := range a {
		m, ok := e.(map[string]any)
		if !ok {
			j.unreadable(fmt.Sprintf("%s[%d]", p, i))
			continue
		}
		out = append(out, &jsonFields{obj: m, prefix: j.path(fmt.Sprintf("%s[%d]", p, i)), bad: j.bad})
	}
	return out
}

// str is the string at a path, trimmed.
func (j *jsonFields) str(p string) string {
	v, ok := j.get(p)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		j.unreadable(p)
	}
	return strings.TrimSpace(s)
}

func (j *jsonFields) boolean(p string) (bool, bool) {
	v, ok := j.get(p)
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		j.unreadable(p)
	}
	return b, ok
}

// number is the number at a path as a float, for values that are not
// integers (38.5 °C) or do not fit one.
func (j *jsonFields) number(p string) (json.Number, bool) {
	v, ok := j.get(p)
	if !ok {
		return "", false
	}
	n, ok := v.(json.Number)
	if !ok {
		j.unreadable(p)
	}
	return n, ok
}

// uint is the non-negative integer at a path. A number with a fraction
// is rounded; one below zero or from 2^64 up is unreadable.
func (j *jsonFields) uint(p string) (uint64, bool) {
	n, ok := j.number(p)
	if !ok {
		return 0, false
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u, true
	}
	f, err := n.Float64()
	if f = math.Round(f); err != nil || f < 0 || f >= 1<<64 {
		j.unreadable(p)
		return 0, false
	}
	return uint64(f), true
}

// int64 is the integer at a path; a number with a fraction is rounded,
// one out of range is unreadable.
func (j *jsonFields) int64(p string) (int64, bool) {
	n, ok := j.number(p)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if f = math.Round(f); err != nil || f < math.MinInt64 || f >= math.MaxInt64 {
		j.unreadable(p)
		return 0, false
	}
	return int64(f), true
}

func (j *jsonFields) int(p string) (int, bool) {
	i, ok := j.int64(p)
	if ok && (i < math.MinInt32 || i > math.MaxInt32) {
		j.unreadable(p)
		return 0, false
	}
	return int(i), ok
}
