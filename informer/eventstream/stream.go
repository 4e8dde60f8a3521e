package eventstream

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Stream is an open event stream of one engine.
type Stream interface {
	// Next decodes the next event into m, which must be the zero Message. It
	// blocks until an event comes or the stream ends: with io.EOF at a clean
	// end, the context's error once the context the stream was opened with
	// ended, or the error that broke it. After an error, the stream is over.
	Next(m *events.Message) error
	// Close releases the stream's connection; Next then fails.
	Close() error
}

// chanStream is a Stream over the Docker client's channel API.
type chanStream struct {
	ctx context.Context
	res client.EventsResult
	err error // sticky once the stream ended
}

// FromChannels returns a Stream of what the Docker client's Events returned:
// its messages, then its error. Next returns ctx's cause once ctx ends, even
// if the client has not noticed yet.
func FromChannels(ctx context.Context, res client.EventsResult) Stream {
	return &chanStream{ctx: ctx, res: res}
}

func (s *chanStream) Next(m *events.Message) error {
	if s.err != nil {
		return s.err
	}
	select {
	case msg := <-s.res.Messages:
		*m = msg
		return nil
	case err := <-s.res.Err:
		if err == nil {
			err = io.EOF
		}
		s.err = err
	case <-s.ctx.Done():
		s.err = context.Cause(s.ctx)
	}
	return s.err
}

// Close does nothing: the client ends its stream when its context ends.
func (s *chanStream) Close() error { return nil }
