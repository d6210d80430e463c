package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
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
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer c.CloseIdleConnections()

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		failures []string
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	h := b.watchHealth()
	for range clients {
		wg.Go(func() {
			<-start
			for range rounds {
				resp, err := c.Post("http://"+plain+"/v1/auth/login", "application/json", bytes.NewReader(body))
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					statuses[resp.StatusCode]++
				}
				mu.Unlock()
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("answers: %v; %d without an answer", statuses, len(failures))
	b.checkAttack(fmt.Sprintf("%d plain-HTTP POSTs of 1 MiB JSON objects from %d connections", clients*rounds, clients), h)
	if len(failures) > 0 {
		t.Logf("e.g. %s", failures[0])
	}
	if strings.Contains(b.log.String(), "panic") {
		t.Errorf("the daemon panicked:\n%s", b.log)
	}
}
