package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// The parallel upload chunk attack (finding 12 of docs/SECURITY.md): 30
// chunks of 16 MiB sent at once by one signed-in account, through each
// door an app can use. A chunk the box refuses for now (429, or
// ResourceExhausted on gRPC) is sent again after the Retry-After the box
// asks for, as the app does; every chunk must land, while the daemon
// stays under the attack limits (attack_test.go).

const (
	attackChunks    = 30
	attackChunkSize = 16 << 20
)

// chunkSender sends one chunk of data at offset 0 of upload id and
// returns whether it landed, or how long the box asks to wait.
type chunkSender func(t *testing.T, b *box, tok, id string, data []byte) (ok bool, retry time.Duration)

// retryAfter reads a Retry-After value in seconds (1 s when absent).
func retryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return time.Second
}

// restJSON sends the chunk as the app does over REST: base64 in JSON.
func restJSON(c *http.Client) chunkSender {
	var once sync.Once
	var body []byte
	return func(t *testing.T, b *box, tok, id string, data []byte) (bool, time.Duration) {
		once.Do(func() {
			body, _ = json.Marshal(map[string]any{"offset": 0, "data": base64.StdEncoding.EncodeToString(data)})
		})
		return sendHTTP(t, c, b, "PUT", "/v1/uploads/"+id, tok, "application/json", body)
	}
}

// restRaw sends the chunk as raw bytes to the streaming route.
func restRaw(c *http.Client) chunkSender {
	return func(t *testing.T, b *box, tok, id string, data []byte) (bool, time.Duration) {
		return sendHTTP(t, c, b, "PUT", "/v1/uploads/"+id+"/data?offset=0", tok, "application/octet-stream", data)
	}
}

func sendHTTP(t *testing.T, c *http.Client, b *box, method, path, tok, ctype string, body []byte) (bool, time.Duration) {
	req, _ := http.NewRequest(method, "https://"+b.listen+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ctype)
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return true, 0
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return true, 0
	case http.StatusTooManyRequests:
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 429 without Retry-After: %s", method, path, out)
		}
		return false, retryAfter(resp.Header.Get("Retry-After"))
	}
	t.Errorf("%s %s: HTTP %d: %.300s", method, path, resp.StatusCode, out)
	return true, 0
}

// grpcChunks sends the chunk over gRPC, raw bytes in the message.
func grpcChunks(conn *grpc.ClientConn) chunkSender {
	c := pb.NewUploadServiceClient(conn)
	return func(t *testing.T, b *box, tok, id string, data []byte) (bool, time.Duration) {
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok), time.Minute)
		defer cancel()
		var hdr, trl metadata.MD
		_, err := c.WriteChunk(ctx, &pb.WriteChunkRequest{Id: id, Offset: 0, Data: data}, grpc.Header(&hdr), grpc.Trailer(&trl))
		switch status.Code(err) {
		case codes.OK:
			return true, 0
		case codes.ResourceExhausted:
			v := append(hdr.Get("retry-after"), trl.Get("retry-after")...)
			if len(v) == 0 {
				t.Errorf("gRPC WriteChunk: ResourceExhausted without retry-after: %v", err)
				return false, time.Second
			}
			return false, retryAfter(v[0])
		}
		t.Errorf("gRPC WriteChunk: %v", err)
		return true, 0
	}
}

func TestAttackParallelUploadChunks(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), attackChunkSize/16)
	httpClient := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxConnsPerHost: attackChunks, MaxIdleConnsPerHost: attackChunks}}
	for _, door := range []struct {
		name string
		send func(b *box) chunkSender
	}{
		{"REST JSON", func(*box) chunkSender { return restJSON(httpClient) }},
		{"gRPC", func(b *box) chunkSender {
			conn, err := grpc.NewClient(b.listen, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			return grpcChunks(conn)
		}},
		{"REST raw", func(*box) chunkSender { return restRaw(httpClient) }},
	} {
		t.Run(door.name, func(t *testing.T) {
			b := newAttackBox(t, "")
			tok := b.ownerToken()
			send := door.send(b)
			ids := make([]string, attackChunks)
			for i := range ids {
				sum := sha256.Sum256([]byte(fmt.Sprint("chunk ", i)))
				code, body := b.apiCall(httpClient, "POST", "/v1/uploads", tok, map[string]any{"space": "inbox", "device": "attacker",
					"name": fmt.Sprintf("clip%02d.mov", i), "size": attackChunkSize, "sha256": hex.EncodeToString(sum[:])})
				var up struct{ ID string }
				if code != 200 || json.Unmarshal(body, &up) != nil || up.ID == "" {
					t.Fatalf("create upload %d: HTTP %d %s", i, code, body)
				}
				ids[i] = up.ID
			}
			h := b.watchHealth()
			start := time.Now()
			var wg sync.WaitGroup
			var mu sync.Mutex
			refused := 0
			for _, id := range ids {
				wg.Go(func() {
					for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
						ok, wait := send(t, b, tok, id, data)
						if ok {
							return
						}
						mu.Lock()
						refused++
						mu.Unlock()
						time.Sleep(wait)
					}
					t.Errorf("upload %s: the chunk did not land within 3 minutes", id)
				})
			}
			wg.Wait()
			t.Logf("%s: %d chunks of 16 MiB landed in %s; %d answers asked to retry later", door.name, attackChunks,
				time.Since(start).Round(time.Millisecond), refused)
			b.checkAttack("30 parallel 16 MiB upload chunks, "+door.name, h)
			for _, id := range ids {
				code, body := b.apiCall(httpClient, "GET", "/v1/uploads/"+id, tok, nil)
				var st struct {
					Offset int64 `json:",string"`
				}
				if json.Unmarshal(body, &st); code != 200 || st.Offset != attackChunkSize {
					t.Errorf("upload %s after the attack: HTTP %d %s, want offset %d", id, code, body, attackChunkSize)
				}
			}
		})
	}
}
