import Hello
import SwiftRPCApp

await SwiftRPCApp(name: "hello", register: registerHello).main()
