package raid

import "fmt"

// Layout is how an object is spread over the array's disks: Data shards
// hold the object's bytes, Parity shards are Reed–Solomon parity. Any Data
// of the Data+Parity shards rebuild the object, so the array survives the
// loss of Parity disks. A mirror is Data 1: every shard is a full copy.
type Layout struct {
	Data   int `json:"data"`
	Parity int `json:"parity"`
}

// Mirror returns the mirror layout over n disks (every object on each).
func Mirror(n int) Layout { return Layout{Data: 1, Parity: n - 1} }

// Shards is the number of shards of one object.
func (l Layout) Shards() int { return l.Data + l.Parity }

// IsMirror reports whether shards are full copies.
func (l Layout) IsMirror() bool { return l.Data == 1 }

func (l Layout) String() string {
	if l.IsMirror() {
		return fmt.Sprintf("mirror×%d", l.Shards())
	}
	return fmt.Sprintf("%d+%d", l.Data, l.Parity)
}

// Validate checks the layout against a number of disks.
func (l Layout) Validate(disks int) error {
	switch {
	case l.Data < 1 || l.Parity < 1:
		return fmt.Errorf("layout %d+%d: need at least one data and one parity shard", l.Data, l.Parity)
	case l.Shards() > 255:
		return fmt.Errorf("layout %s: at most 255 shards", l)
	case disks < l.Shards():
		return fmt.Errorf("layout %s needs at least %d disks, got %d", l, l.Shards(), disks)
	}
	return nil
}
