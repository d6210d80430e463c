package raid_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoebox/shoebox/raid"
)

const tb = int64(1_000_000_000_000)

func TestUsableCapacity(t *testing.T) {
	tests := []struct {
		name       string
		disks      []int64
		k, m       int
		wantUsable int64
		wantWasted []int64
	}{
		{
			// X = 4 TB stripes: 3·4 ≤ 4+4+4. One byte more and
			// Σ min(cᵢ, X) stays 12 TB while 3·X grows. S = 2·4 TB.
			name:  "2+1 on three equal disks",
			disks: []int64{4 * tb, 4 * tb, 4 * tb}, k: 2, m: 1,
			wantUsable: 8 * tb, wantWasted: []int64{0, 0, 0},
		},
		{
			// Every stripe needs all three disks, so X ≤ 1 TB, the
			// smallest disk: 3·1 ≤ 1+1+1, and at X = 1 TB+1 the sum is
			// 3 TB+1 < 3 TB+3. S = 2·1 TB; 3 TB of the big disk idle.
			name:  "2+1 on 1, 1, 4 TB",
			disks: []int64{1 * tb, 1 * tb, 4 * tb}, k: 2, m: 1,
			wantUsable: 2 * tb, wantWasted: []int64{0, 0, 3 * tb},
		},
		{
			// Four disks give the big one partners. X = 2 TB is too
			// many: Σ min = 1+1+1+2 = 5 TB < 3·2 TB. At X = 1.5 TB,
			// Σ min = 1+1+1+1.5 = 4.5 TB = 3·1.5. S = 2·1.5 = 3 TB and
			// 0.5 TB of the largest disk is wasted.
			name:  "2+1 on 1, 1, 1, 2 TB",
			disks: []int64{1 * tb, 1 * tb, 1 * tb, 2 * tb}, k: 2, m: 1,
			wantUsable: 3 * tb, wantWasted: []int64{0, 0, 0, tb / 2},
		},
		{
			// The same in bytes: X = 1.5 rounds down to 1, so S = 2.
			name:  "rounds down to whole stripes",
			disks: []int64{1, 1, 1, 2}, k: 2, m: 1,
			wantUsable: 2, wantWasted: []int64{0, 0, 0, 1},
		},
		{
			// Every object on both disks: the smaller disk bounds it.
			// X = 2 TB: 2·2 ≤ 2+2; above that 2·X > 2+X.
			name:  "mirror of 2 and 3 TB",
			disks: []int64{2 * tb, 3 * tb}, k: 1, m: 1,
			wantUsable: 2 * tb, wantWasted: []int64{0, tb},
		},
		{
			// A three-way mirror is 1+2 on 3 disks.
			name:  "three-way mirror",
			disks: []int64{5 * tb, 3 * tb, 4 * tb}, k: 1, m: 2,
			wantUsable: 3 * tb, wantWasted: []int64{2 * tb, 0, tb},
		},
		{
			// Six disks for 4+2: every stripe spans all of them, so the
			// smallest disk (2 TB) bounds X. S = 4·2 TB.
			name:  "4+2 on six mixed disks",
			disks: []int64{2 * tb, 4 * tb, 4 * tb, 6 * tb, 8 * tb, 10 * tb}, k: 4, m: 2,
			wantUsable: 8 * tb, wantWasted: []int64{0, 2 * tb, 2 * tb, 4 * tb, 6 * tb, 8 * tb},
		},
		{
			// Water-filling, largest disks first: capping the four
			// largest (4, 4, 8, 8) at X leaves 1+1+2+2 = 6 TB for the
			// other 6−4 = 2 positions of each stripe, X = 3 TB. Check:
			// Σ min(cᵢ, 3) = 1+1+2+2+3+3+3+3 = 18 = 6·3. S = 4·3 = 12 TB
			// of 30 TB raw; 1+1+5+5 = 12 TB wasted, 6 TB parity.
			name:  "4+2 on eight mixed disks",
			disks: []int64{1 * tb, 1 * tb, 2 * tb, 2 * tb, 4 * tb, 4 * tb, 8 * tb, 8 * tb}, k: 4, m: 2,
			wantUsable: 12 * tb, wantWasted: []int64{0, 0, 0, 0, tb, tb, 5 * tb, 5 * tb},
		},
		{
			// Enough small disks to pair with the big one: no waste.
			// X = 3 TB: Σ min = 1+2+3+3+3 = 12 = 4·3.
			name:  "3+1 on five disks without waste",
			disks: []int64{1 * tb, 2 * tb, 3 * tb, 3 * tb, 3 * tb}, k: 3, m: 1,
			wantUsable: 9 * tb, wantWasted: []int64{0, 0, 0, 0, 0},
		},
		{
			name:  "empty disks",
			disks: []int64{0, 0, 0}, k: 2, m: 1,
			wantUsable: 0, wantWasted: []int64{0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			usable, wasted, err := raid.UsableCapacity(tt.disks, tt.k, tt.m)
			if err != nil {
				t.Fatalf("UsableCapacity: %v", err)
			}
			if usable != tt.wantUsable {
				t.Errorf("usable: got %d, want %d", usable, tt.wantUsable)
			}
			if diff := cmp.Diff(tt.wantWasted, wasted); diff != "" {
				t.Errorf("wasted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsableCapacityInvalid(t *testing.T) {
	tests := []struct {
		name  string
		disks []int64
		k, m  int
	}{
		{"fewer disks than shards", []int64{tb, tb}, 2, 1},
		{"no disks", nil, 1, 1},
		{"no data shards", []int64{tb, tb}, 0, 1},
		{"negative parity", []int64{tb, tb}, 2, -1},
		{"negative size", []int64{tb, -1, tb}, 2, 1},
		{"sum overflows", []int64{math.MaxInt64, 1, 1}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			usable, wasted, err := raid.UsableCapacity(tt.disks, tt.k, tt.m)
			if err == nil {
				t.Fatalf("got usable %d, wasted %v, nil error; want an error", usable, wasted)
			}
			if usable != 0 || wasted != nil {
				t.Errorf("got usable %d, wasted %v with an error; want 0, nil", usable, wasted)
			}
		})
	}
}

// TestUsableCapacityGreedy checks the formula against a different method on
// small random arrays: place stripes one by one on the k+m disks with the
// most room left (optimal for this problem) until no stripe fits.
func TestUsableCapacityGreedy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for range 300 {
		k := 1 + rng.IntN(4)
		m := rng.IntN(3)
		disks := make([]int64, k+m+rng.IntN(4))
		for i := range disks {
			disks[i] = rng.Int64N(25)
		}
		usable, wasted, err := raid.UsableCapacity(disks, k, m)
		if err != nil {
			t.Fatalf("UsableCapacity(%v, %d, %d): %v", disks, k, m, err)
		}
		left := slices.Clone(disks)
		var stripes int64
		for {
			slices.SortFunc(left, func(a, b int64) int { return int(b - a) })
			if left[k+m-1] == 0 {
				break
			}
			for i := range k + m {
				left[i]--
			}
			stripes++
		}
		if want := int64(k) * stripes; usable != want {
			t.Fatalf("UsableCapacity(%v, %d, %d): got %d, want %d", disks, k, m, usable, want)
		}
		var sumWasted, raw int64
		for i, w := range wasted {
			if w < 0 || w > disks[i] {
				t.Fatalf("UsableCapacity(%v, %d, %d): wasted[%d] = %d out of range", disks, k, m, i, w)
			}
			sumWasted += w
			raw += disks[i]
		}
		// Waste plus stored shard bytes never exceed the raw total; the
		// gap is below k+m bytes (rounding to whole stripes).
		if gap := raw - sumWasted - int64(k+m)*stripes; gap < 0 || gap >= int64(k+m) {
			t.Fatalf("UsableCapacity(%v, %d, %d): raw %d − wasted %d − shards %d = %d, want in [0, %d)",
				disks, k, m, raw, sumWasted, int64(k+m)*stripes, gap, k+m)
		}
	}
}
