package decode

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/airsoc/air/internal/domain"
)

// Each reads every pass of the file as Next does, but decodes on workers
// goroutines while this one reads (0: one per CPU, at most 4), and calls
// fn with the alerts in chunks of n, in file order — the same alerts and
// chunks that repeated calls of Next(n) return, an item that does not
// decode failing the same way. fn runs on the calling goroutine; the
// chunk is fn's to keep. Each stops at the first error, fn's included.
func (rd *File) Each(workers, n int, fn func([]*domain.Alert) error) error {
	if workers <= 0 {
		workers = min(4, runtime.GOMAXPROCS(0))
	}
	n = max(1, n)
	type result struct {
		alerts []*domain.Alert
		err    error
	}
	type job struct {
		raws   [][]byte
		passes []int
		first  int // index of the first item in the whole read
		done   chan result
	}
	jobs := make(chan *job, workers)
	order := make(chan *job, 2*workers) // jobs in file order, for the caller
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		for range order { // let the reader finish and exit
		}
		wg.Wait()
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				out := make([]*domain.Alert, 0, len(j.raws))
				var err error
				for i, raw := range j.raws {
					a, derr := shift(raw, j.passes[i])
					if derr != nil {
						err = fmt.Errorf("alert %d: %w", j.first+i, derr)
						break
					}
					out = append(out, a)
				}
				j.done <- result{out, err}
			}
		}()
	}
	// The reader: cuts the file into jobs, hands each to a worker and, in
	// the same order, to the caller.
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		read := 0
		for {
			j := &job{first: read, done: make(chan result, 1)}
			for len(j.raws) < n {
				raw, err := rd.NextRaw()
				if err != nil {
					readErr <- err
					return
				}
				if raw == nil {
					break
				}
				j.raws = append(j.raws, raw)
				j.passes = append(j.passes, rd.pass)
			}
			if len(j.raws) == 0 {
				return
			}
			read += len(j.raws)
			select {
			case order <- j:
			case <-stop:
				return
			}
			select {
			case jobs <- j:
			case <-stop:
				return
			}
			if len(j.raws) < n {
				return
			}
		}
	}()
	for j := range order {
		res := <-j.done
		if res.err != nil {
			return res.err
		}
		rd.decoded += len(res.alerts)
		if err := fn(res.alerts); err != nil {
			return err
		}
	}
	select {
	case err := <-readErr:
		return err
	default:
		return nil
	}
}
