def rectangle_area(width, height):
    return width * height


def circle_area(radius):
    return 3.14159 * radius * radius


def perimeter( width,height ) :
    total=2*(width+height)
    return   total


def scale(points, factor):
    return [(x * factor, y * factor) for x, y in points]
