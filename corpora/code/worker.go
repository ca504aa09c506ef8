// Package worker runs jobs on a bounded pool and collects their results in order.
package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Job is one unit of work with an index that fixes its place in the output.
type Job struct {
	Index int
	Input string
}

// Result carries a job's output or its error.
type Result struct {
	Index  int
	Output string
	Err    error
}

// ErrTimeout is returned when a job runs past its deadline.
var ErrTimeout = errors.New("job timed out")

// Run processes jobs with at most n workers and returns results in input order.
func Run(ctx context.Context, jobs []Job, n int, perJob time.Duration, fn func(string) (string, error)) []Result {
	results := make([]Result, len(jobs))
	queue := make(chan Job)
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range queue {
				results[job.Index] = runOne(ctx, job, perJob, fn)
			}
		}()
	}
	for _, job := range jobs {
		select {
		case queue <- job:
		case <-ctx.Done():
			results[job.Index] = Result{Index: job.Index, Err: ctx.Err()}
		}
	}
	close(queue)
	wg.Wait()
	return results
}

func runOne(ctx context.Context, job Job, limit time.Duration, fn func(string) (string, error)) Result {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done := make(chan Result, 1)
	go func() {
		out, err := fn(job.Input)
		done <- Result{Index: job.Index, Output: out, Err: err}
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return Result{Index: job.Index, Err: fmt.Errorf("job %d: %w", job.Index, ErrTimeout)}
	}
}
