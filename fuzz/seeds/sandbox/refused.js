null
try { await tools.t.no({}); } catch (e) { return e.code; }
