package kv

// mergePatch applies an RFC 7386 JSON merge patch to target: objects merge
// member by member, a null member removes the target's member, and any
// other patch value replaces the target outright. Target maps may be
// modified; patch is never modified.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = make(map[string]any, len(p))
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
