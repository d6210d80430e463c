package gateway

import (
	"fmt"
	"sync"

	"github.com/dustin/go-humanize"
)

// Upload chunks in flight (docs/GATEWAY.md, "Phone uploads"). A chunk is
// up to 16 MiB, and what the box holds of it while it arrives depends on
// the door: a raw chunk streams to its part file through a 256 KiB
// buffer, but a JSON chunk is held whole with its decoded bytes, and a
// gRPC one with its message. Before a chunk's body is read, the memory
// it may hold is reserved against a cap per account and one for the box;
// a chunk that would pass either is answered 429 (gRPC:
// ResourceExhausted) with Retry-After, its body unread. Thirty chunks at
// once from one account thus cost at most inflightUser, and from
// everyone at most inflightTotal, whatever the door.
const (
	inflightUser  = 64 << 20
	inflightTotal = 128 << 20
	// inflightRetry is the Retry-After of a refused chunk, in seconds.
	inflightRetry = 1
)

// Other request bodies of a signed-in caller (at most maxBody) are held
// by the REST facade as JSON, as the message it decodes, as that message
// marshalled onto the in-process connection and as the service's copy;
// a body of many tiny fields ("sha256": ["", "", …]) costs about sixteen
// times its size (100 such bodies of 1 MiB at once took a daemon to
// 1.7 GiB). Each reserves bodyCost of its size against bodiesUser for
// its account, and nothing for the box: an account that sends many at
// once slows down only itself, and the box holds at most bodiesUser per
// account.
const bodiesUser = 16 << 20

func bodyCost(n int64) int64 { return 16 * n }

// What a chunk may hold in memory, by door, for n bytes of body: a JSON
// body and its decoded bytes (3/4 of it); a gRPC message as the
// transport assembles it and as it is unmarshalled; a raw body, n (the
// bytes in flight, though only a buffer of them is in memory at a time).
func jsonChunkCost(n int64) int64 { return n + n*3/4 }
func grpcChunkCost(n int64) int64 { return 2 * n }
func rawChunkCost(n int64) int64  { return n }

// inflight counts the bytes reserved by bodies being received, against
// a cap per account and (when box is not 0) one for the box.
type inflight struct {
	perUser, box int64

	mu     sync.Mutex
	byUser map[string]int64
	total  int64
}

// take reserves n bytes for account id, or reports that the account's or
// the box's cap would be passed. release gives them back.
func (f *inflight) take(id string, n int64) (release func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byUser[id]+n > f.perUser || f.box > 0 && f.total+n > f.box {
		return nil, false
	}
	if f.byUser == nil {
		f.byUser = map[string]int64{}
	}
	f.byUser[id] += n
	f.total += n
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.total -= n
		if f.byUser[id] -= n; f.byUser[id] == 0 {
			delete(f.byUser, id)
		}
	}, true
}

// bodiesBusyMessage says why a request body was refused for now.
func bodiesBusyMessage() string {
	return fmt.Sprintf("too many requests of your account are on their way to the box at once (their bodies may take %s of its memory): nothing was done; send this one again in %d s",
		humanize.IBytes(bodiesUser), inflightRetry)
}

// busyMessage says why a chunk was refused for now.
func busyMessage() string {
	return fmt.Sprintf("too many upload chunks are on their way to the box at once (at most %s per account, %s in all): nothing was written; send this chunk again in %d s",
		humanize.IBytes(inflightUser), humanize.IBytes(inflightTotal), inflightRetry)
}
