package httpimg

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// OnSend reports each GET with its bytes and whether it completed.
func TestOnSend(t *testing.T) {
	dir, data, _, _ := setup(t)
	var mu sync.Mutex
	var got []Send
	h := New(dir, Options{OnSend: func(s Send) { mu.Lock(); got = append(got, s); mu.Unlock() }})
	srv := httptest.NewServer(http.StripPrefix("/images/", h))
	defer srv.Close()
	get := func(hdr ...string) {
		req, _ := http.NewRequest("GET", srv.URL+"/images/mk/initrd", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	get("Range", "bytes=0-99")
	head, _ := http.Head(srv.URL + "/images/mk/initrd")
	head.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("OnSend calls = %+v, want 2 (HEAD is not a send)", got)
	}
	if g := got[0]; g.Path != "mk/initrd" || g.Bytes != int64(len(data)) || !g.Complete || g.Status != 200 || g.Remote.String() != "127.0.0.1" {
		t.Errorf("whole send = %+v", g)
	}
	if g := got[1]; g.Bytes != 100 || !g.Complete || g.Status != 206 {
		t.Errorf("range send = %+v", g)
	}
}
