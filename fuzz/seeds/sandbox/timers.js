{}
await new Promise(r => setTimeout(r, 5)); console.log(1); return [1, {b: null}];
