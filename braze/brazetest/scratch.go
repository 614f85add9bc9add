package brazetest

import (
	"io"
	"net/http"
	"sync"
)

// callScratch holds the buffers of one API call, reused from call to call.
// Nothing in it may outlive the call.
type callScratch struct {
	buf   []byte // the body, when bodies are not recorded
	scan  bodyScan
	all   []recipient // recipients as listed, then deduplicated
	dels  []recipient // recipients delivered to
	pos   map[string]int
	reply []byte // the encoded answer
}

var scratchPool = sync.Pool{New: func() any { return new(callScratch) }}

// Bigger buffers are left to the garbage collector rather than kept.
const (
	maxPresize     = 1 << 20
	maxPooledBytes = 256 << 10
	maxPooledItems = 1024
)

func getScratch() *callScratch {
	sc := scratchPool.Get().(*callScratch)
	sc.scan.done = false
	return sc
}

// putScratch drops sc's references into the call and returns it to the pool.
func putScratch(sc *callScratch) {
	clear(sc.scan.vals[:])
	sc.scan.elems = trimPooled(sc.scan.elems)
	sc.scan.recs = trimPooled(sc.scan.recs)
	sc.all = trimPooled(sc.all)
	sc.dels = trimPooled(sc.dels)
	if cap(sc.buf) > maxPooledBytes {
		sc.buf = nil
	}
	if cap(sc.reply) > maxPooledBytes {
		sc.reply = nil
	}
	scratchPool.Put(sc)
}

// trimPooled empties s, clearing what it referenced, or drops it when large.
func trimPooled[T any](s []T) []T {
	if cap(s) > maxPooledItems {
		return nil
	}
	clear(s)
	return s[:0]
}

// readBody reads the body of r as io.ReadAll(http.MaxBytesReader(w, r.Body,
// maxBodyBytes)) does, into buf when it is not nil (appending from 0) or a
// buffer sized from the Content-Length.
func readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	want := 512
	if r.ContentLength > 0 {
		// One more byte, so that EOF is seen without growing the buffer. A
		// large Content-Length is trusted only as far as the body arrives.
		want = int(min(r.ContentLength, maxPresize)) + 1
	}
	b := buf[:0]
	if cap(b) < want {
		b = make([]byte, 0, want)
	}
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the growth
		}
	}
}
