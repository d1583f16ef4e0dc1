"s"
const a = []; for (;;) a.push("x".repeat(1e5));
