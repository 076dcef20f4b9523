# The libraries every consumer of tokclean::tokclean needs (all Debian packages:
# libeigen3-dev, nlohmann-json3-dev; OpenMP comes with g++/libgomp).
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
