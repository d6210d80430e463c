package auth

import "go.etcd.io/bbolt"

// The credential buckets (sessions, API keys, enrolment codes) hold JSON
// records keyed by the hash of their token. These walk and prune them.

// forEach calls fn with every record of bucket, decoded as R. fn must
// not change the bucket (collect keys and delete them after).
func forEach[R any](tx *bbolt.Tx, bucket []byte, fn func(k []byte, r *R) error) error {
	return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		r := new(R)
		if err := decode(v, r); err != nil {
			return err
		}
		return fn(k, r)
	})
}

// deleteWhere deletes the records of bucket that match, calling gone
// (when not nil) with each, and returns how many it deleted.
func deleteWhere[R any](tx *bbolt.Tx, bucket []byte, match func(*R) bool, gone func(*R)) (int, error) {
	var keys [][]byte
	err := forEach(tx, bucket, func(k []byte, r *R) error {
		if match(r) {
			keys = append(keys, k)
			if gone != nil {
				gone(r)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(keys), deleteKeys(tx.Bucket(bucket), keys)
}

// deleteKeys deletes keys collected during a ForEach (bbolt forbids
// changing a bucket while iterating it). The keys are copied first: they
// point into the memory map, which a delete may remap.
func deleteKeys(b *bbolt.Bucket, keys [][]byte) error {
	owned := make([][]byte, len(keys))
	for i, k := range keys {
		owned[i] = append([]byte(nil), k...)
	}
	for _, k := range owned {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
