package pubsub

// SetBeforeDecode makes d run f before it decodes each payload: a test
// makes f panic to stand for a bug in a decoding step.
func SetBeforeDecode(d *Decoder, f func(Event)) { d.beforeDecode = f }
