package raid

import (
	"fmt"
	"math"
)

// UsableCapacity returns how many object bytes a k+m layout can store on
// disks of the given sizes (bytes), and how many bytes of each disk can
// never be used. A mirror of n disks is k=1, m=n-1.
//
// Every object is cut into k data shards and m parity shards of size
// object/k, and the k+m shards of one object sit on distinct disks. Think
// of the array as X "stripes" of one shard byte on each of k+m distinct
// disks. A disk of size c holds at most one byte of each stripe, so at
// most min(c, X) of it is usable, and the stripes fit exactly when
//
//	(k+m)·X ≤ Σ min(cᵢ, X)
//
// The condition is also sufficient (McNaughton's wrap-around): lay each
// disk's min(cᵢ, X) bytes end to end across the k+m shard positions of
// the X stripes, column after column; a run no longer than X never meets
// itself in one stripe. Σ min(cᵢ, X) − (k+m)·X is concave in X and zero at
// X = 0, so the condition holds for every X up to a largest X*, found here
// by binary search. The usable total is S = k·X*, and disk i wastes
// cᵢ − min(cᵢ, X*): typically only the largest disks, which lack partners
// to hold the other shards of their stripes. Counting raw shard bytes
// R = (k+m)·X instead, this is the bound R ≤ Σ min(cᵢ, R/(k+m)).
//
// X* is counted in whole bytes, so up to k+m−1 bytes may stay unused
// beyond the reported waste. The error reports a layout with k < 1 or
// m < 0, fewer than k+m disks, a negative size, or sizes whose sum
// overflows int64.
func UsableCapacity(disks []int64, k, m int) (usable int64, wasted []int64, err error) {
	if k < 1 || m < 0 {
		return 0, nil, fmt.Errorf("usable capacity: invalid layout %d+%d: need at least 1 data shard and no negative parity", k, m)
	}
	n := k + m
	if len(disks) < n {
		return 0, nil, fmt.Errorf("usable capacity: a %d+%d layout needs at least %d disks, got %d", k, m, n, len(disks))
	}
	var total int64
	for i, c := range disks {
		if c < 0 {
			return 0, nil, fmt.Errorf("usable capacity: disk %d has negative size %d", i, c)
		}
		if total > math.MaxInt64-c {
			return 0, nil, fmt.Errorf("usable capacity: total disk size overflows int64")
		}
		total += c
	}

	// fits reports whether X stripes fit. Σ min(cᵢ, X) ≤ total and
	// n·X ≤ total for every X probed below, so nothing overflows.
	fits := func(x int64) bool {
		var sum int64
		for _, c := range disks {
			sum += min(c, x)
		}
		return int64(n)*x <= sum
	}
	// fits(0) holds; fits(hi+1) fails because n·X > total ≥ Σ min(cᵢ, X).
	lo, hi := int64(0), total/int64(n)
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	x := lo

	wasted = make([]int64, len(disks))
	for i, c := range disks {
		wasted[i] = c - min(c, x)
	}
	return int64(k) * x, wasted, nil // k·X ≤ total·k/(k+m): no overflow
}
