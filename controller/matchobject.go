package controller

import (
	"strings"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// checkObject returns the first filter of m that ev, an event of a kind
// other than container (image, network, volume, daemon, plugin), fails
// (filterNone: none), its type and engine already matched. Its filters read the actor:
//   - from_container: the container the event names (the "container"
//     attribute of a network connect/disconnect or a volume mount/unmount),
//     by its cached name when the informer knew it, else by its ID;
//   - image, image_contains: the image an image event names (its "name"
//     attribute, the reference as the engine wrote it);
//   - labels: the actor's attributes.
//
// A filter that does not apply to the kind never matches (config rejects
// such rules; a hand-built one just does not fire).
func (m *matcher) checkObject(ev *informer.Event) filter {
	s := &m.sel
	if len(m.exitCodes) > 0 {
		return filterExitCode
	}
	if s.fromContainer != "" {
		id, ok := ev.Attributes["container"]
		if !ok || id == "" {
			return filterFromContainer
		}
		name := ""
		if ev.Container != nil {
			name = strings.TrimPrefix(ev.Container.Name, "/")
		}
		if !config.Match(s.fromContainer, id) && (name == "" || !config.Match(s.fromContainer, name)) {
			return filterFromContainer
		}
	}
	if s.image != "" || s.imageContains != "" {
		ref := ev.Attributes["name"]
		if s.image != "" && (ev.Type != informer.TypeImage || !config.Match(s.image, ref)) {
			return filterImage
		}
		if s.imageContains != "" && (ev.Type != informer.TypeImage || !strings.Contains(ref, s.imageContains)) {
			return filterImageContains
		}
	}
	for _, l := range s.labels {
		v, ok := ev.Attributes[l.key]
		if !ok || (l.value != "" && v != l.value) {
			return filterLabels
		}
	}
	return filterNone
}
