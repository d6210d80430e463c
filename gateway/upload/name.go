package upload

import (
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameBytes leaves room under the usual 255-byte limit for a " (n)"
// suffix and a temporary-file prefix.
const maxNameBytes = 200

// maxExtBytes is the longest extension kept whole when a name is cut.
const maxExtBytes = 20

// CleanName turns a file name from a phone into a safe single path
// element for the inbox. It keeps Unicode (letters, emoji, accents) but
//
//   - replaces path separators and characters Windows clients cannot show
//     (/ \ < > : " | ? *) and invalid UTF-8 with "_",
//   - drops control characters, bidirectional overrides (which can
//     disguise an extension) and line separators,
//   - collapses runs of dots, so the result never contains "..",
//   - trims spaces and dots at both ends (no hidden files, no names
//     Windows would mangle),
//   - prefixes Windows device names (CON, NUL, COM1, …) with "_",
//   - cuts names over 200 bytes, keeping a short extension.
//
// The result is never empty ("unnamed"), and CleanName(CleanName(s)) ==
// CleanName(s). It does not normalise Unicode (NFC/NFD): the name is
// stored as the phone spelt it.
func CleanName(s string) string {
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n <= 1:
			r = '_'
		case strings.ContainsRune(`/\<>:"|?*`, r):
			r = '_'
		case dropRune(r):
			continue
		case r == '.' && strings.HasSuffix(b.String(), "."):
			continue
		}
		b.WriteRune(r)
	}
	name := trimName(b.String())
	if name == "" {
		return "unnamed"
	}
	if len(name) > maxNameBytes {
		ext := filepath.Ext(name)
		if len(ext) > maxExtBytes {
			ext = ""
		}
		base := trimName(cutBytes(name[:len(name)-len(ext)], maxNameBytes-len(ext)))
		if base == "" {
			base = "unnamed"
		}
		name = base + ext
	}
	if reservedName(name) {
		name = trimName(cutBytes("_"+name, maxNameBytes))
	}
	return name
}

// dropRune reports runes CleanName removes.
func dropRune(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL, C1
		return true
	case r == '\u200e' || r == '\u200f' || r == '\u061c': // direction marks
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069': // embeddings, overrides, isolates
		return true
	case r == '\u2028' || r == '\u2029' || r == '\ufeff':
		return true
	}
	return false
}

func trimName(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
}

// cutBytes cuts s to at most n bytes at a rune boundary.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func reservedName(name string) bool {
	stem, _, _ := strings.Cut(name, ".")
	stem = strings.ToUpper(strings.TrimRightFunc(stem, unicode.IsSpace))
	switch stem {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(stem) == 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) && stem[3] >= '0' && stem[3] <= '9' {
		return true
	}
	return false
}

// WithSuffix returns the n-th candidate for a clean name: the name itself
// for n <= 1, else "IMG_0001 (2).HEIC" style.
func WithSuffix(name string, n int) string {
	if n <= 1 {
		return name
	}
	ext := filepath.Ext(name)
	if ext == name || len(ext) > maxExtBytes {
		ext = ""
	}
	return name[:len(name)-len(ext)] + " (" + strconv.Itoa(n) + ")" + ext
}
