package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failing tests for the findings of the adversarial review of issue 12's
// fixes (docs/SECURITY.md): each reproduces an attack against a real
// shoeboxd child process and fails on the code as merged.

// plainBomb is a plain-HTTP request body of just under 1 MiB (the most
// readPlainBody reads) that is a JSON object of ~100 000 tiny string
// fields: decoded into map[string]any and copied into a map[string]string,
// it takes ~25 MiB of heap per request.
func plainBomb() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"password":"x"`)
	for i := 0; buf.Len() < 1<<20-32; i++ {
		fmt.Fprintf(&buf, `,"%x":""`, i)
	}
	buf.WriteString("}")
	return buf.Bytes()
}

// emptyStrings is a POST /v1/uploads/have body of just under 1 MiB
// that is ~350 000 empty strings: tens of MiB once decoded.
func emptyStrings() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"space":"inbox","sha256":[""`)
	for buf.Len() < 1<<20-8 {
		buf.WriteString(`,""`)
	}
	buf.WriteString("]}")
	return buf.Bytes()
}

// TestReviewPlainHTTPBodyMemory: the plain-HTTP port (listen_http) reads
// and decodes every request body (readPlainBody: up to 1 MiB, into a
// map[string]any and a map[string]string) with no cap on concurrent
// requests, no rate limit and no read timeout. Anyone on the LAN, with
// no credential, sends 1 MiB JSON objects of tiny fields from 100
// connections at once: the daemon must stay under the attack limits
// (512 MiB peak RSS, /healthz within 1 s), as for the sign-in flood of
// finding 3.
func TestReviewPlainHTTPBodyMemory(t *testing.T) {
	const (
		clients = 100
		rounds  = 5
	)
	plain := freePort(t)
	b := newAttackBox(t, "listen_http: "+plain+"\n")
	body := plainBomb()
	cs := make([]*http.Client, clients)
	for i := range cs {
		// Each from its own address, so that no per-address brake
		// spares the box from reading the bodies.
		cs[i] = clientFrom(net.IPv4(127, 0, 3, byte(2+i)))
	}
	b.flood(fmt.Sprintf("%d plain-HTTP POSTs of 1 MiB JSON objects from %d connections", clients*rounds, clients), clients, rounds, func(i int) string {
		return answer(cs[i].Post("http://"+plain+"/v1/auth/login", "application/json", bytes.NewReader(body)))
	})
	b.stop() // the log is read once the daemon is done writing it
	if strings.Contains(b.log.String(), "panic") {
		t.Errorf("the daemon panicked:\n%s", b.log)
	}
}

// TestReviewLinkPasswordsStarveSignIn: password.Hash, which hashes a
// new share-link password (and new account passwords), waits for room
// in the process's argon2id budget without joining its bounded queue,
// and nothing limits how often a member makes links. A member with the
// share permission keeps ~50 link creations with a password in flight:
// the budget's queue is always past its 32 waiters, so every sign-in —
// the owner's included, from any address — is refused at once with 429
// "the box is busy checking other passwords" for as long as the member
// likes. Docs/SECURITY.md: no one can "lock anyone out".
func TestReviewLinkPasswordsStarveSignIn(t *testing.T) {
	const workers = 48
	b := newAttackBox(t, "")
	user, pw := b.ownerPassword()
	own := b.ownerToken()
	c := b.client()
	for _, call := range []struct {
		path string
		body any
	}{
		{"/v1/users", map[string]string{"name": "mia", "password": "password-of-mia", "role": "member"}},
		{"/v1/users/mia/grants", map[string]any{"space": "inbox", "permissions": []string{"read", "share"}}},
	} {
		if st, raw := b.apiCall(c, "POST", call.path, own, call.body); st != http.StatusOK {
			t.Fatalf("POST %s: HTTP %d %s", call.path, st, raw)
		}
	}
	if err := os.WriteFile(filepath.Join(b.inbox, "a.jpg"), []byte("a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	snap := b.snapshotWith(own, "inbox", b.inbox, 1)
	mia := b.login("mia", "password-of-mia")

	stop := make(chan struct{})
	var (
		mu      sync.Mutex
		created = map[int]int{}
	)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			mc := b.client()
			mc.Timeout = time.Minute
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, _ := b.apiCall(mc, "POST", "/v1/shares", mia, map[string]any{"snapshot": snap, "path": "a.jpg", "password": "a long link password"})
				mu.Lock()
				created[st]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)
	oc := clientFrom(net.IPv4(127, 0, 0, 9))
	busy := 0
	for i := range 5 {
		code, _, err := tryLogin(oc, b.listen, user, pw)
		t.Logf("the owner signs in during the flood (try %d): HTTP %d %v", i+1, code, err)
		if code == http.StatusTooManyRequests {
			busy++
		}
		time.Sleep(time.Second)
	}
	close(stop)
	wg.Wait()
	t.Logf("the member's link creations: %v", created)
	if busy > 0 {
		t.Errorf("%d of the owner's 5 sign-ins were refused (429, busy) while a member made links with passwords: a member can keep everyone from signing in", busy)
	}
}

// TestReviewLongUserNamesRetained: a failed sign-in with an unknown name
// starts (or counts) the back-off of its (address, name) pair, keyed by
// the name as typed — any length the 1 MiB pre-sign-in body allows —
// and the table keeps up to 16384 such keys for a day. From 100
// addresses (a LAN attacker takes as many as they like), 6 wrong
// sign-ins each, well within the per-address brake, with names of a
// megabyte, pin 600 MiB of the daemon's memory for a day: the
// unauthenticated memory exhaustion of finding 3, by another road.
func TestReviewLongUserNamesRetained(t *testing.T) {
	const (
		addresses = 100
		tries     = 6
		workers   = 16 // fewer than the password queue's 32: none is turned away as busy
	)
	b := newAttackBox(t, "")
	jobs := make(chan int)
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	var wg sync.WaitGroup
	h := b.watchHealth()
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				c := clientFrom(net.IPv4(127, 0, 1, byte(2+j%addresses)))
				name := fmt.Sprintf("u%07d", j) + strings.Repeat("x", 1_000_000)
				code, _, err := tryLogin(c, b.listen, name, "a wrong password")
				c.CloseIdleConnections()
				mu.Lock()
				if err != nil {
					statuses[0]++
				} else {
					statuses[code]++
				}
				mu.Unlock()
			}
		})
	}
	for j := range addresses * tries {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	t.Logf("answers: %v; resident now %d MiB", statuses, b.rss()>>20)
	b.checkAttack(fmt.Sprintf("%d wrong sign-ins with 1 MB user names from %d addresses", addresses*tries, addresses), h)
}

// TestReviewPreAuthBodyDecoding: the REST facade decodes a request's
// JSON body into its message before the call reaches the gRPC side that
// authenticates it, and bodies before sign-in may be 1 MiB. A body of
// ~350 000 empty strings for a repeated field (POST /v1/uploads/have
// {"sha256": ["", "", …]}) becomes that many Go strings, marshalled and
// unmarshalled again over the in-process connection — tens of MiB per
// request, with no limit on requests at once. 100 connections with no
// credential send such bodies: the daemon must stay under the attack
// limits.
func TestReviewPreAuthBodyDecoding(t *testing.T) {
	const (
		clients = 100
		rounds  = 5
	)
	b := newAttackBox(t, "")
	body := emptyStrings()
	cs := make([]*http.Client, clients)
	for i := range cs {
		cs[i] = clientFrom(net.IPv4(127, 0, 2, byte(2+i)))
	}
	b.flood(fmt.Sprintf("%d unauthenticated 1 MiB bodies of empty strings from %d connections", clients*rounds, clients), clients, rounds, func(i int) string {
		return answer(cs[i].Post("https://"+b.listen+"/v1/uploads/have", "application/json", bytes.NewReader(body)))
	})
}
