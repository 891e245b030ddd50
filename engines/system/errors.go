package system

import (
	"errors"
	"fmt"

	"coffer/cluster"
	"coffer/engines"
	"coffer/seal"
)

// clientError gives storage-layer errors the code a client should see:
// a node that sealed or lost leadership mid-request is unavailable (503),
// a write over the log's limits is too large (413). Everything else keeps
// its code, and uncoded errors stay internal.
func clientError(err error) error {
	if err == nil {
		return nil
	}
	var coded *engines.Error
	if errors.As(err, &coded) {
		return err
	}
	switch {
	case errors.Is(err, seal.ErrSealed):
		return fmt.Errorf("%w (%w)", engines.ErrSealed, err)
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrClosed),
		errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotStarted):
		return fmt.Errorf("%w (%w)", engines.ErrNoLeader, err)
	case errors.Is(err, cluster.ErrTooLarge), errors.Is(err, cluster.ErrInvalidWrite):
		return fmt.Errorf("%w (%w)", &engines.Error{Code: engines.CodeTooLarge, Message: "the write is larger than the storage accepts"}, err)
	}
	return err
}
