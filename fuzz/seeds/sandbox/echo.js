{"a":1}
return (await tools.t.echo({x: 1})).arguments.x;
