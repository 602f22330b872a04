// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "hello",
    platforms: [.macOS(.v15)],
    dependencies: [
        // In your own package: .package(url: "<where SwiftRPC lives>", branch: "main")
        .package(name: "swift-rpc", path: "../.."),
    ],
    targets: [
        // The functions, linked by both executables' front and workers.
        .target(name: "Hello", dependencies: [.product(name: "SwiftRPC", package: "swift-rpc")]),
        // `hello serve | worker | run | queues | workers | failed | jobs | call`
        .executableTarget(
            name: "hello",
            dependencies: ["Hello", .product(name: "SwiftRPCApp", package: "swift-rpc")]),
        // Calls both functions through the typed client.
        .executableTarget(
            name: "hello-client",
            dependencies: [.product(name: "SwiftRPCClient", package: "swift-rpc")]),
    ]
)
