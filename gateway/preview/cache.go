package preview

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

// The cache keeps each file's verdict: its preview (a JPEG), or that it
// has none. See "Cache" in the package documentation for the format.
type cache struct {
	dir   string
	aead  cipher.AEAD
	names []byte // HMAC key for file names
	limit int64
	now   func() time.Time

	mu    sync.Mutex
	files map[string]*cached // by name
	total int64
}

type cached struct {
	size int64
	used time.Time
}

var cacheMagic = []byte("SBPV\x01")

// Kinds of cache entry.
const (
	kindNone byte = 0 // no preview; the payload says why
	kindJPEG byte = 1 // the payload is the preview
)

// openCache opens (making it) the cache in dir, under keys derived from
// key, holding at most limit bytes.
func openCache(dir string, key []byte, limit int64, now func() time.Time) (*cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("preview cache: %w", err)
	}
	k, err := hkdf.Key(sha256.New, key, nil, "shoebox preview cache v1", chacha20poly1305.KeySize+32)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(k[:chacha20poly1305.KeySize])
	if err != nil {
		return nil, err
	}
	c := &cache{dir: dir, aead: aead, names: k[chacha20poly1305.KeySize:], limit: limit, now: now, files: map[string]*cached{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("preview cache: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		fi, err := e.Info()
		switch {
		case err != nil:
		case strings.HasPrefix(name, "."): // a write cut short by a crash
			os.Remove(filepath.Join(dir, name))
		case validName(name) && fi.Mode().IsRegular():
			c.files[name] = &cached{size: fi.Size(), used: fi.ModTime()}
			c.total += fi.Size()
		}
	}
	c.mu.Lock()
	c.evict()
	c.mu.Unlock()
	return c, nil
}

func validName(name string) bool {
	_, err := hex.DecodeString(name)
	return len(name) == 2*sha256.Size && err == nil
}

// name is the cache's name for a file of content identity id made into
// previews of at most maxSide pixels: an HMAC, so that the names say
// nothing about the content.
func (c *cache) name(id []byte, maxSide int) string {
	m := hmac.New(sha256.New, c.names)
	fmt.Fprintf(m, "shoebox preview v1\n%d\n", maxSide)
	m.Write(id)
	return hex.EncodeToString(m.Sum(nil))
}

// get returns the entry called name: its kind and payload. A missing,
// damaged or tampered entry is a miss (and a damaged one is removed).
func (c *cache) get(name string) (kind byte, payload []byte, ok bool) {
	p := filepath.Join(c.dir, name)
	raw, err := os.ReadFile(p)
	if err != nil {
		return 0, nil, false
	}
	ns := c.aead.NonceSize()
	var plain []byte
	if len(raw) >= len(cacheMagic)+ns && bytes.HasPrefix(raw, cacheMagic) {
		plain, err = c.aead.Open(nil, raw[len(cacheMagic):len(cacheMagic)+ns], raw[len(cacheMagic)+ns:], c.ad(name))
	}
	if len(plain) == 0 || err != nil {
		c.remove(name)
		return 0, nil, false
	}
	now := c.now()
	os.Chtimes(p, now, now) // oldest unused goes first
	c.mu.Lock()
	if e := c.files[name]; e != nil {
		e.used = now
	}
	c.mu.Unlock()
	return plain[0], plain[1:], true
}

// ad binds an entry to its name: a file moved under another name does
// not open.
func (c *cache) ad(name string) []byte { return []byte("shoebox preview cache v1 " + name) }

// put stores an entry, atomically, then drops the least recently used
// entries while the cache holds more than its limit.
func (c *cache) put(name string, kind byte, payload []byte) error {
	nonce := make([]byte, c.aead.NonceSize())
	rand.Read(nonce)
	sealed := c.aead.Seal(nil, nonce, append([]byte{kind}, payload...), c.ad(name))
	raw := slices.Concat(cacheMagic, nonce, sealed)
	if err := atomicfile.WriteFile(filepath.Join(c.dir, name), raw, 0o600); err != nil {
		return fmt.Errorf("preview cache: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.files[name]; e != nil {
		c.total -= e.size
	}
	c.files[name] = &cached{size: int64(len(raw)), used: c.now()}
	c.total += int64(len(raw))
	c.evict()
	return nil
}

// evict drops the least recently used entries while over the limit.
func (c *cache) evict() {
	if c.total <= c.limit {
		return
	}
	names := make([]string, 0, len(c.files))
	for n := range c.files {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return c.files[a].used.Compare(c.files[b].used) })
	for _, n := range names {
		if c.total <= c.limit {
			break
		}
		os.Remove(filepath.Join(c.dir, n))
		c.total -= c.files[n].size
		delete(c.files, n)
	}
}

func (c *cache) remove(name string) {
	os.Remove(filepath.Join(c.dir, name))
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.files[name]; e != nil {
		c.total -= e.size
		delete(c.files, name)
	}
}

// size is what the cache holds: entries and bytes.
func (c *cache) size() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files), c.total
}
