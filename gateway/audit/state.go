package audit

import (
	"fmt"
	"os"
	"path/filepath"
)

// Checked is what VerifyState found: the log's Report, and the anchor it
// was checked against.
type Checked struct {
	Report

	// Anchor is the latest valid anchor the log was checked against; nil
	// when none was kept yet.
	Anchor *Anchor

	// From says where Anchor was kept: "the state directory", or the
	// place named by VerifyState's extra.
	From string
}

// VerifyState checks the log in dir as it lies in the box's state
// directory, without the daemon (`shoebox audit verify`): with the box
// key kept beside dir (STATE/gateway/box.key for STATE/gateway/audit),
// against the latest of the anchor kept beside dir (AnchorPath) and the
// one extra returns, if extra is not nil (the copy kept in the
// repository: raw nil when there is none, from naming where it was kept).
//
// An anchor that does not carry the box's key is itself tampering: the
// error wraps ErrTampered and says which anchor. A missing log is an
// error only when no anchor names entries; a damaged log is a Checked
// with OK false, as for Verify.
func VerifyState(dir string, extra func() (from string, raw []byte, err error)) (Checked, error) {
	keyFile := filepath.Join(filepath.Dir(dir), "box.key")
	boxKey, err := os.ReadFile(keyFile)
	if err != nil {
		return Checked{}, fmt.Errorf("the box key %s: %w (run as root; --dir must be STATE/gateway/audit)", keyFile, err)
	}
	key, err := ChainKey(boxKey)
	if err != nil {
		return Checked{}, fmt.Errorf("%s: %w", keyFile, err)
	}
	from := map[*Anchor]string{}
	a, err := ReadAnchorFile(AnchorPath(dir), key)
	if err != nil {
		return Checked{}, err
	}
	if a != nil {
		from[a] = "the state directory"
	}
	var b *Anchor
	if extra != nil {
		where, raw, err := extra()
		if err != nil {
			return Checked{}, err
		}
		if raw != nil {
			eb, err := ParseAnchor(key, raw)
			if err != nil {
				return Checked{}, fmt.Errorf("the anchor in %s: %w", where, err)
			}
			b, from[&eb] = &eb, where
		}
	}
	anchor := Latest(a, b)
	if _, err := os.Stat(dir); err != nil && anchor == nil {
		return Checked{}, fmt.Errorf("no audit log at %s (%v): set --dir or SHOEBOX_STATE_DIR", dir, err)
	}
	rep, err := Verify(dir, key, anchor)
	if err != nil {
		return Checked{}, err
	}
	return Checked{Report: rep, Anchor: anchor, From: from[anchor]}, nil
}
