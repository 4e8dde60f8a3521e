package informer

// Handler receives the events of informers. Handle is called from one goroutine
// per informer, in the order the informer applied the events to its cache; it
// must not block for long (it must never wait for a handler command to run).
type Handler interface {
	Handle(ev *Event)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ev *Event)

// Handle calls f(ev).
func (f HandlerFunc) Handle(ev *Event) { f(ev) }
