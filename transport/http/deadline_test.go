package http

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitDone waits up to a generous deadline for ctx to end.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not done within 10s")
	}
}

// waitErr waits for ctx to end and checks that it ended with want.
func waitErr(t *testing.T, ctx context.Context, want error) {
	t.Helper()
	waitDone(t, ctx)
	if err := ctx.Err(); !errors.Is(err, want) {
		t.Fatalf("Err() = %v, want %v", err, want)
	}
}

type ctxKey struct{}

func TestBoundedContext(t *testing.T) {
	t.Run("deadline without waiting", func(t *testing.T) {
		before := time.Now()
		ctx, release := withBound(context.Background(), time.Minute)
		defer release()
		d, ok := ctx.Deadline()
		if !ok || d.Before(before.Add(time.Minute)) || d.After(time.Now().Add(time.Minute)) {
			t.Fatalf("Deadline() = %v, %v; want about a minute from now", d, ok)
		}
	})
	t.Run("earlier parent deadline wins", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ctx, release := withBound(parent, time.Hour)
		defer release()
		pd, _ := parent.Deadline()
		if d, _ := ctx.Deadline(); !d.Equal(pd) {
			t.Fatalf("Deadline() = %v, want the parent's %v", d, pd)
		}
	})
	t.Run("bound passes", func(t *testing.T) {
		ctx, release := withBound(context.Background(), 20*time.Millisecond)
		defer release()
		if err := ctx.Err(); err != nil {
			t.Fatalf("Err() before the bound = %v", err)
		}
		waitErr(t, ctx, context.DeadlineExceeded)
	})
	t.Run("parent canceled", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		ctx, release := withBound(parent, time.Hour)
		defer release()
		cancel()
		waitErr(t, ctx, context.Canceled)
	})
	t.Run("released before any wait", func(t *testing.T) {
		ctx, release := withBound(context.Background(), time.Hour)
		release()
		waitErr(t, ctx, context.Canceled)
	})
	t.Run("released after a wait", func(t *testing.T) {
		ctx, release := withBound(context.Background(), time.Hour)
		done := ctx.Done()
		release()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the channel handed out before release never closed")
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err() = %v, want Canceled", ctx.Err())
		}
	})
	t.Run("derived contexts end with it", func(t *testing.T) {
		ctx, release := withBound(context.Background(), 20*time.Millisecond)
		defer release()
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		waitErr(t, child, context.DeadlineExceeded)
		ctx2, release2 := withBound(context.Background(), time.Hour)
		child2, cancel2 := context.WithTimeout(ctx2, time.Hour)
		defer cancel2()
		release2()
		waitDone(t, child2)
	})
	t.Run("cause after the bound", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background()) // as net/http's is
		defer cancel()
		ctx, release := withBound(parent, 20*time.Millisecond)
		defer release()
		waitDone(t, ctx)
		if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			t.Fatalf("Cause() = %v, want DeadlineExceeded", context.Cause(ctx))
		}
	})
	t.Run("values pass through", func(t *testing.T) {
		parent := context.WithValue(context.Background(), ctxKey{}, "v")
		ctx, release := withBound(parent, time.Hour)
		defer release()
		if got := ctx.Value(ctxKey{}); got != "v" {
			t.Fatalf("Value() = %v, want v", got)
		}
		_ = ctx.Err() // arms the timer
		if got := ctx.Value(ctxKey{}); got != "v" {
			t.Fatalf("Value() once armed = %v, want v", got)
		}
	})
}
