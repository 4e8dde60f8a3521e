package informer

// Store puts ct in the cache in place of the container of its ID, or removes
// that container when ct is gone (destroyed): the cache as an event left
// it. It is for a cache that no Informer owns, fed from elsewhere (a
// recording that `docker-eventsd replay` plays back); an Informer's own
// cache is written by the Informer only. ct must not be modified afterwards.
func (c *Cache) Store(ct *Container) {
	if ct.State == StateGone {
		c.remove(ct.ID)
		return
	}
	c.set(ct)
}
