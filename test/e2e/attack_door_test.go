package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/token"
)

// TestAttackPublicBodies: the routes that need no credential (sign-in,
// pairing, a share link's password form) are the only ones whose bodies
// the box reads from people it does not know. 100 clients, each from its
// own address, send 1 MiB bodies of ~100 000 tiny fields to them, chunked
// (no Content-Length, so nothing is refused for its announced size): the
// daemon must stay under the attack limits, answer every request, and
// let the owner sign in afterwards.
func TestAttackPublicBodies(t *testing.T) {
	const (
		clients = 100
		rounds  = 5
	)
	b := newAttackBox(t, "")
	user, pw := b.ownerPassword()
	fields := plainBomb()
	var form bytes.Buffer
	form.WriteString("password=x")
	for i := 0; form.Len() < 1<<20; i++ {
		fmt.Fprintf(&form, "&%x=", i)
	}
	routes := []struct{ path, ctype string }{
		{"/v1/auth/login", "application/json"},
		{"/v1/auth/enrol", "application/json"},
		{"/s/" + token.New(token.Share), "application/x-www-form-urlencoded"},
	}

	cs := make([]*http.Client, clients)
	for i := range cs {
		cs[i] = clientFrom(net.IPv4(127, 0, 4, byte(2+i)))
	}
	got := b.flood(fmt.Sprintf("%d chunked 1 MiB bodies to the public routes from %d addresses", clients*rounds, clients), clients, rounds, func(i int) string {
		route, body := routes[i%len(routes)], fields
		if route.ctype != "application/json" {
			body = form.Bytes()
		}
		// A reader of unknown length: sent chunked.
		return answer(cs[i].Post("https://"+b.listen+route.path, route.ctype, io.MultiReader(bytes.NewReader(body))))
	})
	if got[noAnswer] > 0 || got["HTTP 500"] > 0 {
		t.Errorf("answers %v: want every request answered, none with 500", got)
	}
	if tok := b.login(user, pw); tok == "" {
		t.Error("the owner cannot sign in after the attack")
	}
}

// TestAttackSignedInBodies: a signed-in account — here a viewer, who may
// not even call the route — sends 1 MiB bodies of ~350 000 empty strings
// to POST /v1/uploads/have from 100 connections, half over REST (which
// decodes them, marshals them onto the in-process connection and decodes
// them again before the call is authorized), half over gRPC. The daemon
// must stay under the attack limits: the account's bodies in flight are
// bounded by what decoding them takes, whatever its role.
func TestAttackSignedInBodies(t *testing.T) {
	const (
		clients = 100
		rounds  = 5
	)
	b := newAttackBox(t, "")
	own := b.ownerToken()
	if code, body := b.apiCall(b.client(), "POST", "/v1/users", own, map[string]any{"name": "vic", "password": "password-of-vic", "role": "viewer"}); code != http.StatusOK {
		t.Fatalf("add a viewer: HTTP %d %s", code, body)
	}
	vic := b.login("vic", "password-of-vic")
	body := emptyStrings()
	// The gRPC message, encoded once: the clients send its bytes as they
	// are (rawCodec), so that the attack costs the test little CPU.
	msg, err := proto.Marshal(&pb.HaveFilesRequest{Space: "inbox", Sha256: make([]string, (1<<20-4<<10)/2)}) // just under maxBody
	if err != nil {
		t.Fatal(err)
	}

	cs := make([]*http.Client, clients)
	conns := make([]*grpc.ClientConn, clients)
	for i := range clients {
		if i%2 == 0 {
			cs[i] = clientFrom(net.IPv4(127, 0, 5, byte(2+i)))
			continue
		}
		conn, err := grpc.NewClient(b.listen, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(4<<20)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns[i] = conn
	}
	b.flood(fmt.Sprintf("%d signed-in 1 MiB bodies of empty strings from %d connections", clients*rounds, clients), clients, rounds, func(i int) string {
		if conns[i] == nil {
			req, _ := http.NewRequest("POST", "https://"+b.listen+"/v1/uploads/have", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+vic)
			req.Header.Set("Content-Type", "application/json")
			return "REST " + answer(cs[i].Do(req))
		}
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+vic), time.Minute)
		defer cancel()
		err := conns[i].Invoke(ctx, "/shoebox.v1.UploadService/HaveFiles", msg, new([]byte), grpc.ForceCodec(rawCodec{}))
		return fmt.Sprint("gRPC ", status.Code(err))
	})
}

// rawCodec sends and receives gRPC messages as the bytes they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = data
	return nil
}
func (rawCodec) Name() string { return "proto" }

// noAnswer is what answer says of a request that got no answer.
const noAnswer = "no answer"

// answer reads and closes an answer, and says what it was ("HTTP 429").
func answer(resp *http.Response, err error) string {
	if err != nil {
		return noAnswer
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprint("HTTP ", resp.StatusCode)
}

// flood runs an attack: clients at once, each sending rounds of requests
// (send(i) sends client i's next one and says what came back), while
// /healthz is watched. It logs what came back, checks the attack limits
// (checkAttack, named name) and returns the answers counted.
func (b *box) flood(name string, clients, rounds int, send func(i int) string) map[string]int {
	b.t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	h := b.watchHealth()
	for i := range clients {
		wg.Go(func() {
			<-start
			for range rounds {
				a := send(i)
				mu.Lock()
				got[a]++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	var seen []string
	for a, n := range got {
		seen = append(seen, fmt.Sprintf("%s × %d", a, n))
	}
	sort.Strings(seen)
	b.t.Logf("answers: %s", strings.Join(seen, ", "))
	b.checkAttack(name, h)
	return got
}
