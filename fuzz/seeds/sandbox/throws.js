{}
return JSON.parse("{");
