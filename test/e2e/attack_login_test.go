package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestAttackParallelLogins is finding 3 of the security issue: each
// sign-in runs argon2id at its production cost (46 MiB), so sign-ins
// from many addresses at once used to take the daemon to gigabytes.
// 100 clients, each from its own loopback address (127.0.0.2 …
// 127.0.0.101: Linux answers on all of 127/8, and each address has its
// own per-address allowance), send wrong passwords at once, several
// rounds each. The daemon must stay under the attack limits, answer
// every attempt with 401 or 429 (with Retry-After), and still let the
// owner sign in afterwards.
func TestAttackParallelLogins(t *testing.T) {
	const (
		clients = 100
		rounds  = 3
	)
	b := newAttackBox(t, "")
	user, pw := b.ownerPassword()

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		noRetry  int
		failures []string
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	h := b.watchHealth()
	for i := range clients {
		c := clientFrom(net.IPv4(127, 0, 0, byte(2+i)))
		wg.Go(func() {
			defer c.CloseIdleConnections()
			<-start
			for r := range rounds {
				code, retry, err := tryLogin(c, b.listen, user, fmt.Sprintf("wrong password %d.%d", i, r))
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case code == http.StatusTooManyRequests && retry == "":
					noRetry++
				}
				statuses[code]++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	b.checkAttack(fmt.Sprintf("%d parallel logins from %d addresses (%d rounds)", clients*rounds, clients, rounds), h)

	var seen []string
	for code, n := range statuses {
		seen = append(seen, fmt.Sprintf("HTTP %d × %d", code, n))
	}
	sort.Strings(seen)
	t.Logf("answers: %v", seen)
	for code := range statuses {
		if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Errorf("answers %v: want only 401 (wrong password) and 429 (busy, with Retry-After)", seen)
			break
		}
	}
	if noRetry > 0 {
		t.Errorf("%d answers of 429 without Retry-After", noRetry)
	}
	if len(failures) > 0 {
		t.Errorf("%d attempts got no answer, e.g. %s", len(failures), failures[0])
	}
	// Wrong passwords from 100 addresses lock nobody out.
	if tok := b.login(user, pw); tok == "" {
		t.Error("the owner cannot sign in after the attack")
	}
}

// clientFrom is an HTTPS client whose connections come from ip.
func clientFrom(ip net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// tryLogin posts one sign-in and returns the status and Retry-After.
func tryLogin(c *http.Client, listen, user, pw string) (int, string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw, "device": "attack"})
	resp, err := c.Post("https://"+listen+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}
