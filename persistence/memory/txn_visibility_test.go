package memory_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
)

// TestReadsNeverSeePartOfATransaction: reads take no lock, yet a reader
// that sees a transaction's first write must then see its second. A writer
// commits (a=i, b=i) for i = 1, 2, ...; readers read a, then b, and b must
// never be older than a. Eight key pairs, so that most pairs lie in two
// different shards.
func TestReadsNeverSeePartOfATransaction(t *testing.T) {
	s := memory.New(memory.Options{})
	const pairs, rounds, readers = 8, 400, 2
	key := func(p int, side string) string { return fmt.Sprintf("pair%d/%s", p, side) }
	for p := 0; p < pairs; p++ {
		for _, side := range []string{"a", "b"} {
			if _, err := s.Put(ctx, key(p, side), []byte("0"), driver.Unconditional()); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(k string) int {
		e, err := s.Get(ctx, k)
		if err != nil {
			t.Error(err)
			return -1
		}
		n, _ := strconv.Atoi(string(e.Value))
		return n
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for p := 0; p < pairs; p++ {
					a := read(key(p, "a"))
					b := read(key(p, "b"))
					if b < a {
						t.Errorf("pair %d: read a=%d, then b=%d: the transaction was seen half applied", p, a, b)
						return
					}
				}
			}
		}()
	}
	for i := 1; i <= rounds; i++ {
		v := []byte(strconv.Itoa(i))
		for p := 0; p < pairs; p++ {
			ops := []driver.Op{
				{Kind: driver.OpPut, Key: key(p, "a"), Value: v, Cond: driver.Unconditional()},
				{Kind: driver.OpPut, Key: key(p, "b"), Value: v, Cond: driver.Unconditional()},
			}
			if _, err := s.Txn(ctx, ops); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
}
